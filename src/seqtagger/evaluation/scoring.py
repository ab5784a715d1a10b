"""Scoring one held-out set with a ``Predictor``: token accuracy, span P/R/F1, confusion.

Each task's gold is read in the set's scheme, the model predicts in its training scheme, and the
numbers (``acc``, ``precision``, ``recall``, ``f1``, ``f1/<TYPE>``, ``strict/...``) come from
:func:`seqtagger.metrics.stages.task_scores`, the very metrics training logs, fed with the gold
and predicted ids in the training scheme: eval reports what training reports. conlleval's report
text, the per-type table, the confusion matrix and the per-label report are computed from the
tag strings in the set's scheme (the written ``predictions.conll`` re-scores to the same numbers
with conlleval.pl). Gold tags the model has never seen are reported and count as errors; the set
is still scored. Every gold token of every sentence is scored: the predictor never truncates.

A model of several tasks (``data/tasks.py``) is scored on every task from one model pass
(:func:`score_set_tasks`); :func:`score_set` gives the primary task's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import torch

from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.schemes import (
    convert_tags,
    label_types,
    rewrite_tags,
    scheme_labels,
)
from seqtagger.data.tasks import DEFAULT_TASK, Task
from seqtagger.evaluation.layers import Layer, read_set_layers, set_layers
from seqtagger.evaluation.sets import HeldOutSet, check_scorable
from seqtagger.inference import Predictor
from seqtagger.metrics import report as reports
from seqtagger.metrics.conlleval import ChunkCounts, evaluate
from seqtagger.metrics.stages import task_scores
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

SENTENCES_PER_UPDATE = 256
"""Sentences padded into one ``(N, L)`` update of the metrics (bounds memory on large sets)."""


@dataclass
class SetResult:
    """Everything computed for one set (tags in the set's scheme); ``task``: the task, for a
    model of several (its files go to ``<set>/<task>/``), else None."""

    name: str
    scheme: str
    tokens: list[list[str]] = field(default_factory=list)
    gold: list[list[str]] = field(default_factory=list)
    pred: list[list[str]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    confusion: np.ndarray | None = None
    counts: ChunkCounts | None = None
    strict_counts: ChunkCounts | None = None
    task: str | None = None

    @property
    def label(self) -> str:
        """``dev`` for a model of one task, ``dev/ner`` for a task among several: the folder
        under the output dir, and the TensorBoard prefix."""
        return self.name if self.task is None else f"{self.name}/{self.task}"


Predict = Callable[[list[list[str]], list[int]], list[dict[str, list[str]]]]
"""Tokens and documents of every sentence -> ``{task: tags}`` per sentence (train schemes)."""


def model_labels_in(labels: Sequence[str], scheme: str) -> list[str]:
    """A model's labels expressed in ``scheme`` (for the confusion matrix rows)."""
    if scheme == "plain":
        return list(labels)
    return scheme_labels(label_types(labels), scheme)


def score_set(
    predictor: Predictor, held_out: HeldOutSet, predict: Predict | None = None
) -> SetResult:
    """Predict the set and score the predictor's primary task (a model's only task): token
    accuracy, span P/R/F1 (conlleval and strict IOB2), the confusion matrix and the per-label
    report. ``predictor.predict`` must give the training scheme; ``predict``: tags the set in
    its place (``evaluation.calibration.SetConfidences``)."""
    if predictor.scheme != predictor.train_scheme:
        raise ValueError("score_set needs a Predictor that outputs the training scheme")
    default = Task(DEFAULT_TASK, None, held_out.scheme, predictor.train_scheme)
    task = getattr(predictor, "task", None) or default
    check_scorable(held_out, task.train_scheme)
    key = f"sets.{held_out.name}.scheme"

    def primary(tokens: list[list[str]], documents: list[int]) -> list[dict[str, list[str]]]:
        return [{task.name: tags} for tags in predictor.predict(tokens, documents)]

    layer = Layer(task, list(predictor.train_labels), held_out.scheme, key)
    return score_layers(held_out, [layer], predict or primary)[task.name]


def score_set_tasks(
    predictor: Predictor, held_out: HeldOutSet, predict: Predict | None = None
) -> dict[str, SetResult]:
    """Every task of ``predictor`` scored on the set from one model pass, by task (each result's
    ``task`` set); ``predictor`` must give every task in its training scheme
    (:func:`scoring_predictor`). Which scheme each task's gold is in: ``evaluation.layers``.
    ``predict``: tags the set in the predictor's place."""
    for task in predictor.tasks:
        if predictor.schemes[task.name] != task.train_scheme:
            raise ValueError(
                f"score_set_tasks needs a Predictor that outputs each task's training scheme "
                f"(task {task.name}: {predictor.schemes[task.name]}, trained in "
                f"{task.train_scheme}): build it with scoring_predictor"
            )
    check_scorable(held_out, predictor.task.train_scheme)
    layers = set_layers(held_out, predictor.tasks, predictor.task_labels, predictor.task)
    results = score_layers(held_out, layers, predict or predictor.predict_layers)
    for name, result in results.items():
        result.task = name
    return results


def scoring_predictor(predictor: Predictor) -> Predictor:
    """``predictor`` giving every task's tags in the scheme the task was trained in (what the
    training run scored, and what strict span F1 judges), whatever its ``scheme`` option."""
    predictor.schemes = {task.name: task.train_scheme for task in predictor.tasks}
    predictor.scheme = predictor.schemes[predictor.task.name]
    return predictor


def score_layers(
    held_out: HeldOutSet, layers: Sequence[Layer], predict: Predict
) -> dict[str, SetResult]:
    """Read the set (a tag column per layer), predict it once and score every layer."""
    tokens, golds, documents = read_set_layers(held_out, layers)
    predicted = predict(tokens, documents)  # {task: tags} per sentence, training schemes
    results = {}
    for layer in layers:
        name = layer.task.name
        raw = [tags[name] for tags in predicted]
        results[name] = score_layer(held_out, layer, tokens, golds[name], raw)
    return results


def score_layer(
    held_out: HeldOutSet,
    layer: Layer,
    tokens: list[list[str]],
    gold: list[list[str]],
    raw: list[list[str]],
) -> SetResult:
    """One task's result: ``gold`` in the set's scheme, ``raw`` the model's tags (training
    scheme)."""
    scheme, train_scheme = layer.scheme, layer.train_scheme
    result = SetResult(held_out.name, scheme, tokens, gold)
    result.pred = [convert_tags(tags, train_scheme, scheme) for tags in raw]
    # the gold the model learnt from: well formed in the train scheme, as in training
    gold_in_train = [rewrite_tags(tags, scheme, train_scheme) for tags in gold]
    pairs = list(zip(result.gold, result.pred, strict=True))
    model_labels = model_labels_in(layer.labels, scheme)
    unknown = Counter(tag for tags in result.gold for tag in tags if tag not in model_labels)
    if unknown:
        _warn_unknown(held_out.name, layer, unknown)
    scores, unseen_tokens = token_scores(layer.labels, train_scheme, gold_in_train, raw)

    result.labels = reports.label_order(model_labels, (tag for tags in result.gold for tag in tags))
    result.confusion = reports.confusion_matrix(pairs, result.labels)
    result.metrics = {
        "sentences": len(result.tokens),
        "tokens": sum(map(len, result.tokens)),
        **scores,
        "unknown_tags": dict(unknown),
        "unseen_gold_tokens": unseen_tokens,
        "classification_report": reports.classification_report(result.confusion, result.labels),
    }
    if scheme != "plain":
        result.counts = evaluate(pairs, scheme=scheme)
        # strict mode judges the model's own output: converting it to the set's scheme first
        # would repair exactly the ill-formed chunks that strict mode is there to drop
        raw_pairs = zip(gold_in_train, raw, strict=True)
        result.strict_counts = evaluate(raw_pairs, scheme=train_scheme, strict=True)
        result.metrics["conlleval_accuracy"] = result.counts.accuracy
        result.metrics["per_type"] = _per_type(result.counts)
    return result


def _warn_unknown(set_name: str, layer: Layer, unknown: Counter[str]) -> None:
    whose = "" if layer.task.name == DEFAULT_TASK else f" of task {layer.task.name}"
    why = (
        "(a training run with data.unknown_labels=map_to_o scored them as O, so its test "
        "numbers are higher)"
        if layer.task.has_spans
        else "(as a training run with unknown_labels=score_as_error scored them)"
    )
    log.warning(
        f"sets.{set_name}: gold tags{whose} unknown to the model: {dict(unknown)}, scored as "
        f"errors {why}"
    )


def token_scores(
    labels: Sequence[str],
    train_scheme: str,
    gold: list[list[str]],
    pred: list[list[str]],
) -> tuple[dict[str, float], int]:
    """The metrics training logs for a task (:func:`task_scores`: ``acc``, and for span schemes
    ``precision``, ``recall``, ``f1``, ``f1/<TYPE>``, ``strict/...``) over tags in the training
    scheme, and how many gold tokens carry a tag the model never saw. Those tags extend the
    label list (no prediction equals them: errors)."""
    unseen = sorted({tag for tags in gold for tag in tags} - set(labels))
    extended = [*labels, *unseen]
    index = {tag: i for i, tag in enumerate(extended)}
    scores = task_scores(extended, train_scheme)
    sentences = iter(zip(gold, pred, strict=True))
    while chunk := list(islice(sentences, SENTENCES_PER_UPDATE)):
        gold_ids, pred_ids = (_padded_ids([pair[i] for pair in chunk], index) for i in (0, 1))
        scores.update(pred_ids, gold_ids)
    computed = scores.compute() if gold else {}
    computed.pop("accuracy", None)  # SpanF1's conlleval accuracy: `acc` is the token accuracy
    unseen_tokens = sum(index[tag] >= len(labels) for tags in gold for tag in tags)
    return {name: float(value) for name, value in computed.items()}, unseen_tokens


def _padded_ids(sentences: list[list[str]], index: dict[str, int]) -> torch.Tensor:
    """Tag ids ``(N, L)`` of ``sentences``, padded with -100 as training pads them."""
    ids = torch.full((len(sentences), max(map(len, sentences), default=0)), IGNORE_INDEX)
    for row, tags in enumerate(sentences):
        ids[row, : len(tags)] = torch.tensor([index[tag] for tag in tags], dtype=torch.long)
    return ids


def _per_type(counts: ChunkCounts) -> dict[str, dict[str, Any]]:
    """conlleval's counts per entity type (the report's table)."""
    return {
        type_: {
            "precision": counts.precision(type_),
            "recall": counts.recall(type_),
            "f1": counts.f1(type_),
            "support": counts.gold.get(type_, 0),
            "predicted": counts.pred.get(type_, 0),
        }
        for type_ in sorted(set(counts.gold) | set(counts.pred))
    }
