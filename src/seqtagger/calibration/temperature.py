"""Fitting one temperature per task on a held-out set, by the likelihood of its gold tags.

A task's fit reads its logits on the set, kept on the host in padded batches (:class:`Batches`:
for a dev set, whose size is bounded), and searches the temperature ``T`` that minimises the mean
negative log-likelihood (NLL) of the gold tags under the head's token probabilities at ``T``: the
softmax of ``logits / T`` for a linear head, the exact marginals for a CRF with emissions,
transitions, start and end scores divided by ``T``. The search is golden-section on ``log T`` in
[``LOWEST``, ``HIGHEST``]; the NLL is computed in float64 so that an over-confident model's
wrong tokens (probabilities far below float32's range) still count. Gold tokens whose tag
training never saw have no probability under the model and are left out of the fit. The tags
never depend on ``T``: only the probabilities do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from seqtagger.constants import IGNORE_INDEX

if TYPE_CHECKING:
    from seqtagger.models.heads import Head

LOWEST, HIGHEST = 0.05, 20.0
"""The temperatures searched (a fit at either end is reported as such)."""
TOLERANCE = 1e-3
"""Width in ``log T`` at which the search stops (0.1 % of ``T``)."""
SENTENCES_PER_BATCH = 256


@dataclass
class Batches:
    """A task's logits ``(N, L, C)`` (float32), ``mask (N, L)`` and gold ids ``(N, L)`` (-100
    at padding and where the gold is left out), in batches of sentences of similar length;
    ``rows``: the sentences of each batch, by their index in the set."""

    logits: list[Tensor] = field(default_factory=list)
    mask: list[Tensor] = field(default_factory=list)
    gold: list[Tensor] = field(default_factory=list)
    rows: list[list[int]] = field(default_factory=list)

    def __iter__(self):
        return iter(zip(self.logits, self.mask, self.gold, strict=True))

    @property
    def tokens(self) -> int:
        """Gold tokens the fit reads."""
        return int(sum((gold >= 0).sum() for gold in self.gold))


def padded_batches(
    logits: Sequence[Tensor], gold: Sequence[Sequence[int]], size: int = SENTENCES_PER_BATCH
) -> Batches:
    """Per-sentence ``logits (L_i, C)`` and gold ids (``-100``: left out) as :class:`Batches`,
    sentences sorted by length so that little padding is kept."""
    order = sorted(range(len(logits)), key=lambda i: logits[i].shape[0])
    batches = Batches()
    for start in range(0, len(order), size):
        chosen = order[start : start + size]
        longest = max(logits[i].shape[0] for i in chosen)
        labels = logits[chosen[0]].shape[1]
        values = torch.zeros(len(chosen), longest, labels)
        ids = torch.full((len(chosen), longest), IGNORE_INDEX, dtype=torch.long)
        for row, i in enumerate(chosen):
            n = logits[i].shape[0]
            values[row, :n] = logits[i]
            ids[row, :n] = torch.as_tensor(list(gold[i]), dtype=torch.long)
        mask = torch.arange(longest) < torch.tensor([logits[i].shape[0] for i in chosen])[:, None]
        batches.logits.append(values)
        batches.mask.append(mask)
        batches.gold.append(ids)
        batches.rows.append(chosen)
    return batches


def gold_nll(head: Head, batches: Batches, temperature: float) -> float:
    """Mean NLL of the gold ids under ``head``'s token probabilities at ``temperature``
    (float64); 0 when no token is scored."""
    total, count = 0.0, 0
    with torch.inference_mode():
        for logits, mask, gold in batches:
            scored = gold >= 0
            if not scored.any():
                continue
            probabilities = head.marginals(logits.double(), mask, temperature)  # (N, L, C)
            picked = probabilities.gather(2, gold.clamp(min=0).unsqueeze(2)).squeeze(2)
            total -= float(picked[scored].clamp(min=1e-300).log().sum())
            count += int(scored.sum())
    return total / count if count else 0.0


@dataclass(frozen=True)
class TemperatureFit:
    """A task's fitted ``temperature`` with the NLL of its gold tags at 1 and at it, the gold
    ``tokens`` read and those ``excluded`` (unseen tags); ``at_bound``: the best temperature
    lies at an end of the range searched."""

    task: str
    temperature: float
    nll_before: float
    nll_after: float
    tokens: int
    excluded: int
    at_bound: bool = False


def fit_temperature(head: Head, batches: Batches, task: str, excluded: int = 0) -> TemperatureFit:
    """The temperature minimising :func:`gold_nll` on ``batches`` (golden-section on ``log T``).
    It never raises the NLL: a search that ends above the NLL at 1 keeps 1."""
    before = gold_nll(head, batches, 1.0)
    if not batches.tokens:
        return TemperatureFit(task, 1.0, before, before, 0, excluded)
    low, high = math.log(LOWEST), math.log(HIGHEST)
    best, after = golden_section(lambda u: gold_nll(head, batches, math.exp(u)), low, high)
    temperature = math.exp(best)
    if after > before:
        temperature, after = 1.0, before
    at_bound = min(best - low, high - best) < 2 * TOLERANCE
    return TemperatureFit(task, temperature, before, after, batches.tokens, excluded, at_bound)


def golden_section(
    f: Callable[[float], float], low: float, high: float, tolerance: float = TOLERANCE
) -> tuple[float, float]:
    """``(x, f(x))`` at the minimum of a unimodal ``f`` on ``[low, high]``, to ``tolerance``."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = high - ratio * (high - low), low + ratio * (high - low)
    fc, fd = f(c), f(d)
    while high - low > tolerance:
        if fc <= fd:
            high, d, fd = d, c, fc
            c = high - ratio * (high - low)
            fc = f(c)
        else:
            low, c, fc = c, d, fd
            d = low + ratio * (high - low)
            fd = f(d)
    return (c, fc) if fc <= fd else (d, fd)
