"""The CRF's constrained Viterbi as the exported graph runs it: fewer nodes in each scan step.

``CRFHead``'s export-safe Viterbi (``models/crf.py``, ``viterbi_scan``) shapes the padding's
mask and "point to yourself" labels inside its scan's step, and its backtracking squeezes and
unsqueezes each step's tag. onnxruntime runs a scan's body node by node at every position, at a
cost per node that dwarfs the small tensors' arithmetic, so :func:`viterbi` shapes them once
before the scans (a step of 7 nodes instead of 11) and carries ``(N, 1)`` tags through the
backtracking (one gather a step). The sums, maxima and first-best pointers are the same, in the
same order: the same tag ids as ``CRFHead.decode`` (``tests/test_export_paths.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtagger.constants import IGNORE_INDEX
from seqtagger.models.crf import CRFHead, _scan

__all__ = ["decode", "viterbi"]


def decode(head: nn.Module, logits: Tensor, mask: Tensor) -> Tensor:
    """``head``'s tag ids ``(N, L)`` for ``logits (N, L, C)``: :func:`viterbi` for a CRF,
    else the head's own decoding."""
    if isinstance(head, CRFHead):
        emissions = logits.float()
        return viterbi(emissions, mask, *head.scores(emissions.dtype))
    return head.decode(logits, mask)


def viterbi(
    emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tensor:
    """Best path ids ``(N, L)`` (-100 at padding) of ``emissions (N, L, C)`` under
    ``transitions (C, C)`` (from, to), ``start`` and ``end (C,)``, forbidden ones -inf. One
    padding position is appended, so a one-token batch still scans a step (onnxruntime refuses
    a ``Scan`` of none); at padding the scores stay and each tag points to itself."""
    emissions = F.pad(emissions, (0, 0, 0, 1))
    mask = F.pad(mask, (0, 1), value=False)
    keep = mask[:, 1:].transpose(0, 1).unsqueeze(2)  # (L, N, 1)

    labels = torch.arange(emissions.shape[2], device=emissions.device).expand_as(emissions[:, 0])

    def forward(score: Tensor, inputs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        emitted, kept = inputs  # (N, C), (N, 1)
        best, previous = (score.unsqueeze(2) + transitions).max(dim=1)  # (N, C) each
        return torch.where(kept, best + emitted, score), torch.where(kept, previous, labels)

    later = (emissions[:, 1:].transpose(0, 1), keep)
    score, pointers = _scan(forward, start + emissions[:, 0], later)  # pointers: (L, N, C)
    last = (score + end).argmax(dim=1, keepdim=True)  # (N, 1)

    def back(tag: Tensor, step_pointers: Tensor) -> tuple[Tensor, Tensor]:
        previous = step_pointers.gather(1, tag)  # (N, 1)
        return previous, previous.clone()

    _, tags = _scan(back, last, pointers, reverse=True)  # (L, N, 1): tags at 0 .. L - 1
    tag_ids = torch.cat([tags[..., 0].transpose(0, 1), last], dim=1)[:, :-1]
    return tag_ids.masked_fill(~mask[:, :-1], IGNORE_INDEX)
