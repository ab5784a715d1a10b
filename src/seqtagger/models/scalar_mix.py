"""A learned softmax-weighted mix of a transformer's last layers (ELMo's scalar mix), for
``model.embedding.layers`` above 1."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ScalarMix"]


class ScalarMix(nn.Module):
    """``gamma * sum_k softmax(w)_k * layer_k`` over the last ``k`` layers (ELMo's mix)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(count))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        """``count`` tensors ``(B, T, H)`` -> ``(B, T, H)``."""
        weights = torch.softmax(self.weights, dim=0)
        return self.gamma * sum(w * layer for w, layer in zip(weights, layers, strict=True))
