"""Export-time stand-ins: parts that compute what the model's own parts compute, with less work
in the exported graph.

- :class:`RealWords` runs the character CNN on the batch's real words only. The embedder's
  export-safe path encodes every position, padding included, and a batch of whole documents
  (the document memory's) is about two thirds padding; PyTorch on the CPU gathers the real words
  too (``TokenEmbedder._char_features``). A padded position has only padding characters, which
  the CNN maps to zeros, so the graph's features are the same.
- :class:`SortedBiLSTM` runs a BiLSTM encoder's ONNX ``LSTM`` nodes on groups of sentences of
  similar length, each group cut to its longest sentence. onnxruntime's ``LSTM`` computes every
  step of every row whatever its ``sequence_lens`` (they only keep padding out of the outputs),
  where PyTorch's packed sequences compute the real tokens only; the groups do what packing
  does, coarsely. Each row is computed as in one node, so the states are the same.

:func:`leaner` swaps them in for the export and restores the model afterwards, so training and
the checkpoint never see them; ``tests/test_export_lean.py`` holds each to the part it stands in
for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqtagger.models.encoders import BiLSTMEncoder, _onnx_gates

__all__ = ["GROUPS", "REAL_WORDS", "RealWords", "SortedBiLSTM", "leaner"]

REAL_WORDS = ("cnn",)
"""The character encoders (``kind``) :class:`RealWords` runs: not the character BiLSTM, whose
``nn.LSTM`` torch.export cannot run on a batch of words whose number the data decides."""

GROUPS = 4
"""Length groups of :class:`SortedBiLSTM`: more groups cut more padding steps, each one more
``LSTM`` node to run (a cost of its own for a batch of one sentence); ``docs/export.md`` gives
the padding measured."""


class RealWords(nn.Module):
    """``forward(char_ids (N, L, W)) -> (N, L, F)``: ``chars`` on the words with a character
    that is not ``pad_index``; zeros at the others, as ``chars`` gives them."""

    def __init__(self, chars: nn.Module, pad_index: int) -> None:
        super().__init__()
        self.chars = chars
        self.pad_index = pad_index
        self.output_size = chars.output_size

    def forward(self, char_ids: Tensor) -> Tensor:
        n, length, width = char_ids.shape
        flat = char_ids.reshape(n * length, width)  # (N*L, W)
        rows = (flat != self.pad_index).any(dim=1).nonzero().squeeze(1)  # (M,)
        real = self.chars(flat.index_select(0, rows).unsqueeze(0))[0]  # (M, F)
        out = real.new_zeros(n * length, real.shape[-1]).index_copy(0, rows, real)
        return out.reshape(n, length, real.shape[-1])


class SortedBiLSTM(nn.Module):
    """``forward(x (N, L, D), lengths, mask (N, L)) -> (N, L, H)``: ``encoder``'s BiLSTM, its
    sentences sorted by length and split in :data:`GROUPS` groups of (about) equal size, each
    group's ``LSTM`` node reading its rows up to its longest sentence (the first group, which
    holds the longest, reads them all); padding outputs 0. Only while exporting (the nodes are
    ONNX's, as in ``BiLSTMEncoder.onnx_lstm``)."""

    def __init__(self, encoder: BiLSTMEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.output_size = encoder.output_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        n, length, groups = x.shape[0], x.shape[1], GROUPS
        # groups - 1 rows of one padding word: every group has a row, whatever N
        x = torch.cat([x, x.new_zeros(groups - 1, length, x.shape[2])])
        counts = torch.cat([mask.sum(dim=1), mask.new_ones(groups - 1, dtype=torch.int64)])
        counts = counts.clamp(min=1)  # an empty sentence reads its padding word, as packing does
        counts, order = torch.sort(counts, descending=True)  # (N + groups - 1,)
        hidden = x.index_select(0, order).transpose(0, 1)  # (L, N', D): time first, as ONNX's
        lstm, steps = self.encoder.lstm, counts.to(torch.int32)
        bounds = [(n + groups - 1) * g // groups for g in range(groups + 1)]
        for layer in range(lstm.num_layers):
            weights = [_onnx_gates(lstm, layer, name) for name in ("ih", "hh")]
            biases = [_onnx_gates(lstm, layer, f"bias_{name}") for name in ("ih", "hh")]
            parts = [*weights, torch.cat(biases, dim=1)]
            outputs = []
            for group, (start, end) in enumerate(pairwise(bounds)):
                rows = hidden[:, start:end]
                if group:  # cut to the group's longest sentence: the steps it saves
                    rows = rows[: counts[start].item()]
                output = _lstm(rows, steps[start:end], parts, lstm.hidden_size)
                outputs.append(F.pad(output, (0, 0, 0, 0, 0, length - output.shape[0])))
            hidden = torch.cat(outputs, dim=1)  # (L, N', 2 * size)
        restore = torch.empty_like(order).scatter_(0, order, torch.arange(order.shape[0]))
        hidden = hidden.transpose(0, 1).index_select(0, restore[:n])  # (N, L, 2 * size)
        return hidden.masked_fill(~mask.unsqueeze(-1), 0.0)


def _lstm(rows: Tensor, steps: Tensor, parts: list[Tensor], size: int) -> Tensor:
    """One bidirectional ONNX ``LSTM`` node on ``rows (T, n, D)`` of ``steps (n,)`` int32 ->
    ``(T, n, 2 * size)``, 0 after each row's steps."""
    length, n = rows.shape[0], rows.shape[1]
    torch._check(length >= 1)
    output = torch.onnx.ops.symbolic(
        "::LSTM",
        [rows, *parts, steps],
        {"direction": "bidirectional", "hidden_size": size},
        dtype=rows.dtype,
        shape=[length, 2, n, size],
        version=14,
    )  # (T, 2, n, size)
    return output.transpose(1, 2).reshape(length, n, 2 * size)


@contextmanager
def leaner(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` with every embedder's character CNN (a ``char_encoder`` of a kind in
    :data:`REAL_WORDS`) in a :class:`RealWords` and every ``BiLSTMEncoder`` in a
    :class:`SortedBiLSTM`; as it was afterwards."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for part in list(module.modules()):
        chars = getattr(part, "char_encoder", None)
        for name, child in list(part.named_children()):
            if child is chars and getattr(child, "kind", None) in REAL_WORDS:
                setattr(part, name, RealWords(child, int(child.pad_index)))
            elif isinstance(child, BiLSTMEncoder):
                setattr(part, name, SortedBiLSTM(child))
            else:
                continue
            swapped.append((part, name, child))
    try:
        yield module
    finally:
        for part, name, chars in swapped:
            setattr(part, name, chars)
