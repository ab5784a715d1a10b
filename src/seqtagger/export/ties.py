"""Near-ties of a tagger's decoding: how much better PyTorch's tag is than another at a position.

A graph whose emissions agree with PyTorch's to 1e-6 can still decode another tag where two
paths score the same to that precision. The parity rule allows it there only: at a position
where the graph's tag differs, the best path score with that position held to PyTorch's tag
(PyTorch's own path) and the best with it held to the graph's must be within
:data:`TIE` of each other. Those scores are the max-marginals: for a CRF, Viterbi's forward and
backward max-sums added (:func:`max_marginals`, in float64, under the same constraints); for a
head that tags each token alone, its scores (the other tokens' best is the same for both).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqtagger.models.crf import CRFHead

__all__ = ["TIE", "max_marginals", "near_ties", "tie_gaps"]

TIE = 1e-5
"""Two best path scores closer than this are a tie (a tag may differ there)."""


@torch.no_grad()
def max_marginals(head: nn.Module, logits: Tensor, mask: Tensor) -> Tensor:
    """``(N, L, C)`` float64: the best path score through each tag at each position, for
    ``logits (N, L, C)`` and ``mask (N, L)`` (padding: 0); a CRF's forbidden tags -inf."""
    scores = logits.double()
    if isinstance(head, CRFHead):
        transitions, start, end = head.scores(torch.float64)
        forward = _forward(scores, mask, transitions, start)
        scores = forward + _backward(scores, mask, transitions, end)
    return scores.masked_fill(~mask.unsqueeze(-1), 0.0)


def tie_gaps(marginals: Tensor, expected: Tensor, found: Tensor) -> Tensor:
    """``(N, L)``: the best score with each position held to its ``expected`` tag, less the
    best with it held to the ``found`` tag (tag ids ``(N, L)``, padding -100: gap 0 there)."""
    best, other = (
        marginals.gather(2, ids.clamp(min=0).unsqueeze(2))[..., 0] for ids in (expected, found)
    )
    return (best - other).masked_fill(expected < 0, 0.0)


def near_ties(marginals: Tensor, mask: Tensor, tie: float = TIE) -> int:
    """Real positions whose best and second-best tags' max-marginals are within ``tie``: where
    any decoder that sums in another order may pick the other tag."""
    if marginals.shape[-1] < 2:
        return 0
    top = marginals.topk(2, dim=-1).values  # (N, L, 2)
    return int(((top[..., 0] - top[..., 1] <= tie) & mask).sum())


def _forward(emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor) -> Tensor:
    """``(N, L, C)``: the best score of a path from the start to each tag at each position, its
    emission included; at padding the last real position's scores carry on."""
    alphas = [start + emissions[:, 0]]
    for t in range(1, emissions.shape[1]):
        step = (alphas[-1].unsqueeze(2) + transitions).amax(dim=1) + emissions[:, t]
        alphas.append(torch.where(mask[:, t : t + 1], step, alphas[-1]))
    return torch.stack(alphas, dim=1)


def _backward(emissions: Tensor, mask: Tensor, transitions: Tensor, end: Tensor) -> Tensor:
    """``(N, L, C)``: the best score of a path's continuation after each tag at each position,
    the end score included; ``end`` at a sentence's last real token and after it."""
    betas = [end.expand_as(emissions[:, 0])]
    for t in range(emissions.shape[1] - 2, -1, -1):
        after = emissions[:, t + 1] + betas[-1]  # (N, C) of the tag at t + 1
        step = (transitions + after.unsqueeze(1)).amax(dim=2)
        betas.append(torch.where(mask[:, t + 1 : t + 2], step, betas[0]))
    return torch.stack(betas[::-1], dim=1)
