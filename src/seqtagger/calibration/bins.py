"""Expected calibration error (ECE) and the bins of a reliability diagram.

A confidence is a probability the model gives to what it returned (a token's tag, a span), and
it is correct or not. The confidences are put into ``bins`` equal-width bins over [0, 1] (15 by
default, as Guo et al. 2017): bin ``i`` holds the confidences in ``(i / bins, (i + 1) / bins]``,
the first one 0 too. ECE is the mean over the bins, weighted by their counts, of
``|accuracy - mean confidence|``: 0 when, in every bin, the share of correct predictions equals
the confidence claimed for them. Numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["DEFAULT_BINS", "Bin", "Reliability", "expected_calibration_error", "reliability"]

DEFAULT_BINS = 15
SLACK = 1e-3
"""How far outside [0, 1] a confidence may be and count as rounding (clipped to it)."""


@dataclass(frozen=True)
class Bin:
    """One bin ``(lower, upper]``: how many confidences fell in it, their mean and the share of
    them that were correct (both None for an empty bin)."""

    lower: float
    upper: float
    count: int
    confidence: float | None
    accuracy: float | None


@dataclass(frozen=True)
class Reliability:
    """The bins of a set of confidences, their ``count``, ``ece`` (None without any), overall
    ``accuracy`` and mean ``confidence``."""

    bins: list[Bin]
    count: int
    ece: float | None
    accuracy: float | None
    confidence: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reliability(
    confidences: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    bins: int = DEFAULT_BINS,
) -> Reliability:
    """The reliability bins and ECE of ``confidences (n,)`` in [0, 1] and ``correct (n,)``."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins={bins!r}: expected an integer >= 1")
    values = np.asarray(confidences, dtype=np.float64).reshape(-1)
    hits = np.asarray(correct, dtype=bool).reshape(-1)
    if values.shape != hits.shape:
        raise ValueError(f"{values.size} confidences but {hits.size} correct flags")
    if values.size and not (np.all(values >= -SLACK) and np.all(values <= 1.0 + SLACK)):
        raise ValueError("confidences must lie in [0, 1]")
    values = values.clip(0.0, 1.0)  # float32 sums of exponentials land a little outside
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges[1:-1], values, side="left")  # (lower, upper]; 0 in the first
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=values, minlength=bins)
    correct_counts = np.bincount(index, weights=hits.astype(np.float64), minlength=bins)
    table = [
        Bin(
            float(edges[i]),
            float(edges[i + 1]),
            int(counts[i]),
            float(sums[i] / counts[i]) if counts[i] else None,
            float(correct_counts[i] / counts[i]) if counts[i] else None,
        )
        for i in range(bins)
    ]
    if not values.size:
        return Reliability(table, 0, None, None, None)
    gaps = np.abs(correct_counts - sums)  # per bin: count * |accuracy - confidence|
    ece = float(gaps.sum() / values.size)
    return Reliability(table, int(values.size), ece, float(hits.mean()), float(values.mean()))


def expected_calibration_error(
    confidences: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    bins: int = DEFAULT_BINS,
) -> float | None:
    """ECE of ``confidences`` against ``correct`` (see the module docstring); None for none."""
    return reliability(confidences, correct, bins).ece
