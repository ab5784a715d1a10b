"""Output heads: per-token label scores from encoder states.

A plain ``Dropout`` + ``Linear``; a module of its own so that configs can swap heads (e.g. a CRF
later) without touching the encoder.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["LinearHead"]


class LinearHead(nn.Module):
    """``x (N, L, H)`` -> logits ``(N, L, C)``: dropout, then a linear map to ``num_labels``."""

    def __init__(self, input_size: int, num_labels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(input_size, num_labels)

    def forward(self, x: Tensor) -> Tensor:
        """``x (N, L, H)`` -> unnormalised logits ``(N, L, C)``."""
        return self.linear(self.dropout(x))
