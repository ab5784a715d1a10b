"""Output heads: label scores from encoder states, and the head's own loss and decoding.

A head is the one place that knows how its scores are trained and read: the ``Tagger`` calls
``head.loss(logits, tag_ids, mask)`` and ``head.decode(logits, mask)`` for each task and nothing
head-specific, so a new head (a CRF, a head restricted to some labels) is one class here plus one
file under ``configs/model/head/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqtagger.constants import IGNORE_INDEX
from seqtagger.models.dropout import sequence_dropout
from seqtagger.models.loss import sequence_cross_entropy

__all__ = ["Head", "LinearHead"]


class Head(nn.Module):
    """Base class: ``forward(features (N, L, H)) -> logits (N, L, C)``, plus ``loss``/``decode``.

    Every head is given the label map and the train scheme (``labels``, ``scheme``: a CRF builds
    its transition constraints from them) and the two loss options of ``configs/model``
    (``label_smoothing``, ``probability_check``, validated by ``TaggerModule`` and the loss); a
    head whose loss has no use for an option rejects a non-default value.
    """

    def __init__(
        self,
        input_size: int,
        num_labels: int,
        *,
        labels: Sequence[str] | None = None,
        scheme: str = "plain",
        label_smoothing: float = 0.0,
        probability_check: str = "warn",
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.num_labels = num_labels
        self.labels = list(labels) if labels is not None else [str(i) for i in range(num_labels)]
        self.scheme = scheme
        self.label_smoothing = float(label_smoothing)
        self.probability_check = probability_check

    def loss(self, logits: Tensor, tag_ids: Tensor, mask: Tensor) -> Tensor:
        """Scalar training loss of ``logits (N, L, C)`` against ``tag_ids (N, L)`` (-100 at
        padding), ``mask (N, L)`` True at real tokens."""
        raise NotImplementedError

    def decode(self, logits: Tensor, mask: Tensor) -> Tensor:
        """Predicted tag ids ``(N, L)`` int64, ``IGNORE_INDEX`` where ``mask (N, L)`` is False."""
        raise NotImplementedError

    def marginals(self, logits: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """Probability of each label at each token ``(N, L, C)``, float32 or wider: each real
        token's row sums to 1, padding rows are 0. The scores are divided by ``temperature``
        first (calibration); ``decode`` never reads it."""
        raise NotImplementedError


class LinearHead(Head):
    """Dropout (locked: one mask per sentence) and a linear map to the labels; cross-entropy loss,
    per-token argmax decoding."""

    def __init__(
        self,
        input_size: int,
        num_labels: int,
        dropout: float = 0.0,
        locked_dropout: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(input_size, num_labels, **options)
        self.dropout = sequence_dropout(dropout, locked_dropout)
        self.linear = nn.Linear(input_size, num_labels)

    def forward(self, features: Tensor) -> Tensor:
        """``features (N, L, H)`` -> unnormalised logits ``(N, L, C)``."""
        return self.linear(self.dropout(features))

    def loss(self, logits: Tensor, tag_ids: Tensor, mask: Tensor) -> Tensor:
        """Mean token cross-entropy under the (N, C, L) contract of ``F.cross_entropy``.

        The one place where the head output is permuted: ``(N, L, C) -> (N, C, L)``, so the
        layout is right by construction (see ``check_logits_layout`` for why that matters).
        """
        logits_ncl = logits.permute(0, 2, 1)
        return sequence_cross_entropy(
            logits_ncl,
            tag_ids,
            num_classes=self.num_labels,
            ignore_index=IGNORE_INDEX,
            label_smoothing=self.label_smoothing,
            probability_check=self.probability_check,
        )

    def decode(self, logits: Tensor, mask: Tensor) -> Tensor:
        """Argmax label per real token; ``IGNORE_INDEX`` at padding."""
        return logits.argmax(dim=-1).masked_fill(~mask, IGNORE_INDEX)

    def marginals(self, logits: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """Softmax of ``logits / temperature`` per token ``(N, L, C)``; 0 at padding."""
        scores = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature
        return scores.softmax(dim=-1).masked_fill(~mask.unsqueeze(-1), 0.0)
