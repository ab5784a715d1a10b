"""The data a model is sized from, as plain values: written by the datamodule
(``TaggingDataModule.data_info``), read by the model (``TaggerModule``), stored in every
checkpoint under ``"seqtagger"`` (``checkpoint.py``) and read back by eval and predict.

Plain JSON-like values only (lists, dicts, strings, numbers), so that a checkpoint loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from seqtagger.data.tasks import Task, headline_task
from seqtagger.data.vocab import Vocab

__all__ = [
    "CalibrationRecord",
    "DataInfo",
    "TaskRecord",
    "make_data_info",
    "stored_temperatures",
    "task_labels",
    "tasks_of",
]


class TaskRecord(TypedDict):
    """One task (``Task.to_dict``: name, column, file_scheme, train_scheme, headline,
    loss_weight, unknown_labels) with its label namespace (``Vocab.to_dict``)."""

    name: str
    column: str | int | None
    file_scheme: str
    train_scheme: str
    headline: bool
    loss_weight: float
    unknown_labels: str
    labels: dict[str, Any]


class CalibrationRecord(TypedDict):
    """The temperatures fitted on a held-out set (``seqtagger.calibration``), by task: each
    task's ``temperature``, the ``set`` it was fitted on (``dev``, or a file's name), the mean
    negative log-likelihood of the gold tags there at temperature 1 (``nll_before``) and at the
    fitted one (``nll_after``), the gold ``tokens`` the fit read and those it left out
    (``excluded``: tags training never saw)."""

    temperature: dict[str, float]
    set: str
    nll_before: dict[str, float]
    nll_after: dict[str, float]
    tokens: dict[str, int]
    excluded: dict[str, int]


class DataInfo(TypedDict, total=False):
    """``vocabs``: words and chars (``Vocab.to_dict``); ``tasks``: one record per task, in the
    order of the config; ``headline``: the headline task's metric (``acc``, ``f1``);
    ``max_word_length``, ``featurizer`` (the embedder's featurizer options), ``context``
    (words of document context) and ``calibration`` (the fitted temperatures; None: none was
    fitted, every task's temperature is 1)."""

    vocabs: dict[str, dict[str, Any]]
    tasks: list[TaskRecord]
    headline: str
    max_word_length: int
    featurizer: dict[str, Any]
    context: int
    calibration: CalibrationRecord | None


def make_data_info(
    vocabs: Mapping[str, Vocab],
    tasks: Sequence[Task],
    labels: Mapping[str, Vocab],
    *,
    headline: str,
    max_word_length: int,
    featurizer: dict[str, Any],
    context: int,
) -> DataInfo:
    """The record of a datamodule's vocabularies, tasks and featurizer."""
    return {
        "vocabs": {name: vocab.to_dict() for name, vocab in vocabs.items() if name != "labels"},
        "tasks": [{**task.to_dict(), "labels": labels[task.name].to_dict()} for task in tasks],
        "headline": headline,
        "max_word_length": max_word_length,
        "featurizer": featurizer,
        "context": context,
    }


def tasks_of(info: Mapping[str, Any]) -> list[Task]:
    """The tasks of a record."""
    return [Task.from_dict(record) for record in info["tasks"]]


def task_labels(info: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each task's labels (index -> tag, in its train scheme)."""
    return {record["name"]: list(record["labels"]["itos"]) for record in info["tasks"]}


def headline_of(info: Mapping[str, Any]) -> Task:
    """The record's headline task."""
    return headline_task(tasks_of(info))


def stored_temperatures(info: Mapping[str, Any]) -> dict[str, float]:
    """Each task's temperature for its confidences: the one fitted and stored in the record
    (``calibration``), else 1.0 (the model's own probabilities). Torch-free, for whatever
    holds a record (a checkpoint's, an exported graph's sidecar); a record without tasks gives
    none."""
    fitted = (info.get("calibration") or {}).get("temperature") or {}
    tasks = info.get("tasks") or []
    return {record["name"]: float(fitted.get(record["name"], 1.0)) for record in tasks}
