"""Dropout over token sequences ``(N, L, D)``: standard or locked.

Locked ("variational") dropout draws one mask per sentence and feature and shares it across the
sentence's tokens (Gal & Ghahramani 2016; flair and AWD-LSTM use it), so a dropped feature is
missing for the whole sentence instead of for scattered tokens. torch has no such module and it
is a few lines, so it is written here.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["LockedDropout", "sequence_dropout"]


class LockedDropout(nn.Module):
    """``x (N, L, D)`` -> ``x * mask (N, 1, D) / (1 - p)`` in training; the identity in eval."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1); received {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty(x.shape[0], 1, x.shape[-1]).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def sequence_dropout(p: float, locked: bool = False) -> nn.Module:
    """``LockedDropout(p)`` when ``locked``, else ``nn.Dropout(p)`` (a mask per token)."""
    return LockedDropout(p) if locked else nn.Dropout(p)
