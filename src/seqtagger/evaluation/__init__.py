"""Scoring a checkpoint on held-out sets: resolving the sets, scoring, files and figures."""

from seqtagger.evaluation.layers import Layer, read_set_layers, set_layers
from seqtagger.evaluation.scoring import (
    SetResult,
    score_set,
    score_set_tasks,
    scoring_predictor,
)
from seqtagger.evaluation.sets import HeldOutSet, held_out_from_file, resolve_sets
from seqtagger.evaluation.writing import (
    log_results,
    log_to_tensorboard,
    set_summary,
    write_layer_predictions,
    write_results,
    write_set,
)

__all__ = [
    "HeldOutSet",
    "Layer",
    "SetResult",
    "held_out_from_file",
    "log_results",
    "log_to_tensorboard",
    "read_set_layers",
    "resolve_sets",
    "score_set",
    "score_set_tasks",
    "scoring_predictor",
    "set_layers",
    "set_summary",
    "write_layer_predictions",
    "write_results",
    "write_set",
]
