"""The sets calibration reads: a training run's split (its dev set) or a file, and each task's
gold tags on them in the training scheme."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.schemes import rewrite_tags
from seqtagger.errors import ConfigError
from seqtagger.evaluation.layers import Layer, read_set_layers, set_layers
from seqtagger.evaluation.sets import HeldOutSet, run_config

RUN_SPLITS = {"dev": "validation", "validation": "validation", "test": "test"}
"""Names of a training run's splits that ``--set`` takes."""


def datamodule_split(datamodule: Any, split: str, name: str) -> HeldOutSet:
    """The ``split`` of a ``TaggingDataModule`` as a held-out set named ``name``, read as its
    training read it (its reader; the headline task's file scheme, each other task's own)."""
    files = datamodule.resolve_files()
    if split not in files:
        raise ConfigError(f"the training data has no {split} split (it has {sorted(files)})")
    source = files[split]
    return HeldOutSet(name, source, datamodule.reader_for(source), datamodule.file_scheme)


def run_split(ckpt_path: str | Path, split: str, name: str, named_by: str = "CKPT") -> HeldOutSet:
    """The ``split`` of the run that wrote ``ckpt_path`` (its ``config.yaml`` beside the
    ``checkpoints`` folder)."""
    import hydra

    cfg = run_config(Path(ckpt_path))
    if cfg is None or "data" not in cfg:
        folder = Path(ckpt_path).resolve().parent.parent
        raise ConfigError(
            f"{named_by} {ckpt_path}: no training config.yaml in {folder} to find its {name} "
            "set: give the file (--set path/to/dev.conllu)"
        )
    return datamodule_split(hydra.utils.instantiate(cfg.data), split, name)


@dataclass
class GoldSet:
    """A set read for a model's tasks: tokens, each sentence's document, and each task's gold
    tags in its training scheme."""

    name: str
    tokens: list[list[str]]
    documents: list[int]
    gold: dict[str, list[list[str]]]
    layers: list[Layer]


def read_gold(held_out: HeldOutSet, predictor: Any) -> GoldSet:
    """``held_out`` read for every task of ``predictor``, each task's gold checked against its
    scheme (as eval reads it) and rewritten in the task's training scheme."""
    layers = set_layers(held_out, predictor.tasks, predictor.task_labels, predictor.task)
    tokens, golds, documents = read_set_layers(held_out, layers)
    gold = {
        layer.task.name: [
            rewrite_tags(tags, layer.scheme, layer.train_scheme) for tags in golds[layer.task.name]
        ]
        for layer in layers
    }
    return GoldSet(held_out.name, tokens, documents, gold, layers)


def gold_ids(gold: Sequence[Sequence[str]], labels: Sequence[str]) -> tuple[list[list[int]], int]:
    """Each sentence's gold ids under ``labels``, ``-100`` for a tag training never saw (the fit
    leaves it out), and how many such tokens there are."""
    index = {tag: i for i, tag in enumerate(labels)}
    ids = [[index.get(tag, IGNORE_INDEX) for tag in tags] for tags in gold]
    return ids, sum(i == IGNORE_INDEX for row in ids for i in row)
