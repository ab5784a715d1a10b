"""Character encoders: each word's characters ``char_ids (N, L, W)`` -> one vector ``(N, L, F)``.

Two classic choices, picked by ``model.embedding.char_encoder``: a CNN with max-pooling (Ma & Hovy
2016; the default, the faster one) and a BiLSTM whose two final states describe the word (Lample
et al. 2016; flair's and NCRF++'s other option). Both treat padding the same way: a padding
character never changes a real word's vector, and a word made only of padding (a padded token
position) gets zeros. Written by hand: they are a few lines each, and no library offers them
with that padding contract.

To add one: a class with a ``kind`` (its ``model.embedding.char_encoder`` value) and a
``from_options`` classmethod, listed in ``CHAR_ENCODERS``. ``TokenEmbedder`` holds it as
``char_<kind>``, which names its weights in the state dict.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch
from torch import Tensor, nn

from seqtagger.errors import ConfigError

__all__ = ["CHAR_ENCODERS", "CharCNN", "CharEncoder", "CharLSTM", "build_char_encoder"]


class CharCNN(nn.Module):
    """Character CNN: embed characters, convolve, max-pool over the characters of each word.

    Padding characters are masked with ``-inf`` before the max so they never win it; a word made
    only of padding (a padded token position) gets zeros. Convolution uses ``padding="same"`` and
    the padding character embeds to zeros, so appending padding characters leaves the features of
    real words unchanged.
    """

    kind: ClassVar[str] = "cnn"

    def __init__(
        self,
        num_chars: int,
        char_dim: int = 30,
        num_filters: int = 50,
        kernel_size: int = 3,
        pad_index: int = 0,
    ) -> None:
        super().__init__()
        self.pad_index = pad_index
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=pad_index)
        self.conv = nn.Conv1d(char_dim, num_filters, kernel_size, padding="same")
        self.output_size = num_filters

    @classmethod
    def from_options(
        cls, num_chars: int, char_dim: int, features: int, kernel_size: int, pad_index: int
    ) -> CharCNN:
        """``features`` filters of width ``kernel_size``."""
        for key, value in (("char_filters", features), ("char_kernel_size", kernel_size)):
            if value < 1:
                raise ConfigError(
                    f"model.embedding.{key}={value}: expected >= 1 while the character CNN is on "
                    "(model.embedding.char_dim=0 turns it off)"
                )
        return cls(num_chars, char_dim, features, kernel_size, pad_index)

    def forward(self, char_ids: Tensor) -> Tensor:
        """``char_ids (N, L, W)`` -> features ``(N, L, num_filters)``."""
        n, length, width = char_ids.shape
        if width == 0:
            return char_ids.new_zeros(n, length, self.output_size, dtype=torch.float)
        flat = char_ids.reshape(n * length, width)  # (N*L, W)
        real = (flat != self.pad_index).unsqueeze(1)  # (N*L, 1, W)
        features = self.conv(self.embedding(flat).transpose(1, 2))  # (N*L, F, W)
        pooled = features.masked_fill(~real, float("-inf")).amax(dim=2)  # (N*L, F)
        pooled = pooled.masked_fill(~real.any(dim=2), 0.0)  # all-pad words: zeros, not -inf
        return pooled.reshape(n, length, self.output_size)


class CharLSTM(nn.Module):
    """Character BiLSTM: a word's vector is the forward LSTM's state after its last character and
    the backward LSTM's state after its first, ``output_size // 2`` values each.

    No ``pack_padded_sequence`` (whose lengths must be on the host, a sync per batch on a GPU):
    the backward LSTM reads each word's characters reversed in place (padding stays at the end),
    and both states are gathered at position ``length - 1``, so trailing padding is never read.
    Characters must be left-aligned, as the featurizer writes them.
    """

    kind: ClassVar[str] = "lstm"

    def __init__(
        self, num_chars: int, char_dim: int = 25, output_size: int = 50, pad_index: int = 0
    ) -> None:
        super().__init__()
        if output_size < 2 or output_size % 2:
            raise ConfigError(
                f"model.embedding.char_filters={output_size}: the character BiLSTM splits its "
                "features between two directions, so it needs an even number >= 2"
            )
        self.pad_index = pad_index
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=pad_index)
        self.forward_lstm = nn.LSTM(char_dim, output_size // 2, batch_first=True)
        self.backward_lstm = nn.LSTM(char_dim, output_size // 2, batch_first=True)
        self.output_size = output_size

    @classmethod
    def from_options(
        cls, num_chars: int, char_dim: int, features: int, kernel_size: int, pad_index: int
    ) -> CharLSTM:
        """``features`` states, half per direction; ``kernel_size`` is the CNN's, unused."""
        return cls(num_chars, char_dim, features, pad_index)

    def forward(self, char_ids: Tensor) -> Tensor:
        """``char_ids (N, L, W)`` -> features ``(N, L, output_size)``."""
        n, length, width = char_ids.shape
        if width == 0:
            return char_ids.new_zeros(n, length, self.output_size, dtype=torch.float)
        flat = char_ids.reshape(n * length, width)  # (M, W)
        word_lengths = (flat != self.pad_index).sum(dim=1, keepdim=True)  # (M, 1)
        positions = torch.arange(width, device=flat.device).unsqueeze(0)  # (1, W)
        inside = positions < word_lengths
        reversed_ids = flat.gather(1, torch.where(inside, word_lengths - 1 - positions, positions))
        last = (word_lengths - 1).clamp(min=0).unsqueeze(-1)  # (M, 1, 1)
        states = []
        for lstm, ids in ((self.forward_lstm, flat), (self.backward_lstm, reversed_ids)):
            outputs, _ = lstm(self.embedding(ids))  # (M, W, H)
            states.append(outputs.gather(1, last.expand(-1, 1, outputs.size(-1))).squeeze(1))
        features = torch.cat(states, dim=-1).masked_fill(word_lengths == 0, 0.0)  # (M, F)
        return features.reshape(n, length, self.output_size)


class CharEncoder(Protocol):
    """What ``TokenEmbedder`` asks of a character encoder (an ``nn.Module``)."""

    kind: ClassVar[str]
    output_size: int

    @classmethod
    def from_options(
        cls, num_chars: int, char_dim: int, features: int, kernel_size: int, pad_index: int
    ) -> CharEncoder: ...

    def __call__(self, char_ids: Tensor) -> Tensor: ...


CHAR_ENCODERS: dict[str, type[CharEncoder]] = {cls.kind: cls for cls in (CharCNN, CharLSTM)}
"""``model.embedding.char_encoder`` values -> classes."""


def build_char_encoder(
    kind: str, num_chars: int, char_dim: int, features: int, kernel_size: int, pad_index: int
) -> CharEncoder:
    """The character encoder ``kind`` with ``features`` outputs per word."""
    if kind not in CHAR_ENCODERS:
        raise ConfigError(
            f"model.embedding.char_encoder={kind!r}: expected one of {', '.join(CHAR_ENCODERS)}"
        )
    return CHAR_ENCODERS[kind].from_options(num_chars, char_dim, features, kernel_size, pad_index)
