"""Scoring a checkpoint on held-out sets: resolving the sets, scoring, files and figures."""

from seqtagger.evaluation.scoring import SetResult, score_set
from seqtagger.evaluation.sets import HeldOutSet, held_out_from_file, resolve_sets
from seqtagger.evaluation.writing import log_to_tensorboard, write_set

__all__ = [
    "HeldOutSet",
    "SetResult",
    "held_out_from_file",
    "log_to_tensorboard",
    "resolve_sets",
    "score_set",
    "write_set",
]
