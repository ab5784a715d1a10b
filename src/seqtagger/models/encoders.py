"""Contextual encoders over embedded tokens: BiLSTM, Transformer, and the identity.

All share one interface, ``forward(x (N, L, D), lengths (N,), mask (N, L) bool) -> (N, L, H)``
with ``output_size = H``. ``lengths`` are int64 on the host (the ``Tagger`` passes the batch's
``lengths_cpu``, which never goes to the GPU): host-side bookkeeping such as packing reads them
without a device sync; ``mask`` is on ``x``'s device for device-side work. All guarantee
padding invariance: the outputs at real tokens do not
depend on what sits at padded positions nor on how much padding follows, and padded positions
output exactly 0. Thin wrappers around ``nn.LSTM`` / ``nn.TransformerEncoder`` that add exactly
that guarantee (packing, key-padding masks, positions), which the bare modules leave to the caller.
``IdentityEncoder`` passes the embeddings through, for embedders that are contextual already (a
pretrained transformer, ``model=hf``).

``BiLSTMEncoder.export_safe`` selects the path an exported graph runs (``seqtagger.export``):
ONNX ``LSTM`` nodes with sequence lengths in place of packing, which does not export; the
ONNX parity tests (``tests/test_export.py``) hold it to the packed outputs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqtagger.errors import ConfigError

__all__ = ["BiLSTMEncoder", "IdentityEncoder", "TransformerEncoder"]


def _zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    return x.masked_fill(~mask.unsqueeze(-1), 0.0)


class IdentityEncoder(nn.Module):
    """No encoder: ``x (N, L, D)`` -> ``x`` (0 at padding), ``output_size = input_size``."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.output_size = input_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """``x (N, L, D)``, ``lengths (N,)``, ``mask (N, L)`` -> ``(N, L, D)``."""
        return _zero_padding(x, mask)


class BiLSTMEncoder(nn.Module):
    """Bidirectional LSTM; ``hidden_size`` is the total output size (``hidden_size // 2`` each way).

    Sequences are packed, so the backward direction starts at each sentence's last real token and
    padding never reaches real tokens. The packing order is computed on the host from the host
    lengths: ``pack_padded_sequence(enforce_sorted=False)`` would keep the order on the device
    and ``pad_packed_sequence`` copies it back (``unsorted_indices.cpu()``), a device sync per
    batch. Empty sentences (length 0) are tolerated and output zeros. ``dropout`` applies
    between stacked layers only. ``export_safe``: exported, it runs :meth:`onnx_lstm` instead.
    """

    export_safe: bool = False

    def __init__(
        self, input_size: int, hidden_size: int = 256, num_layers: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if hidden_size % 2:
            raise ConfigError(
                f"BiLSTMEncoder hidden_size is the concatenation of both directions and must be "
                f"even; received {hidden_size}."
            )
        self.lstm = nn.LSTM(
            input_size,
            hidden_size // 2,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_size = hidden_size

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """``x (N, L, D)``, ``lengths (N,)`` int64 on the host, ``mask (N, L)`` -> ``(N, L,
        hidden_size)``."""
        if self.export_safe and torch.compiler.is_exporting():
            return self.onnx_lstm(x, mask)
        if lengths.device.type != "cpu":  # a device sync; the Tagger passes a host copy instead
            lengths = lengths.cpu()
        sorted_lengths, order = torch.sort(lengths.clamp(min=1), descending=True)  # host
        restore = torch.empty_like(order)
        restore[order] = torch.arange(len(order))
        order = order.to(x.device, non_blocking=True)  # host -> device: no wait
        restore = restore.to(x.device, non_blocking=True)
        packed = pack_padded_sequence(
            x.index_select(0, order), sorted_lengths, batch_first=True, enforce_sorted=True
        )
        output, _ = self.lstm(packed)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return _zero_padding(output.index_select(0, restore), mask)

    def onnx_lstm(self, x: Tensor, mask: Tensor) -> Tensor:
        """:meth:`forward` as ONNX ``LSTM`` nodes (one bidirectional node a layer), for
        ``torch.onnx.export``: ``x (N, L, D)``, ``mask (N, L)`` -> ``(N, L, hidden_size)``. The
        node's ``sequence_lens`` start the backward direction at each sentence's last real token,
        as packing does; packed sequences do not export, and an exported ``nn.LSTM`` would read
        padding backwards and fix the graph's length to the example's."""
        lengths = mask.sum(dim=1).clamp(min=1).to(torch.int32)  # (N,)
        hidden, size = x, self.lstm.hidden_size
        for layer in range(self.lstm.num_layers):
            weights = [_onnx_gates(self.lstm, layer, name) for name in ("ih", "hh")]
            biases = [_onnx_gates(self.lstm, layer, f"bias_{name}") for name in ("ih", "hh")]
            n, length = hidden.shape[0], hidden.shape[1]
            output = torch.onnx.ops.symbolic(
                "::LSTM",
                [hidden.transpose(0, 1), *weights, torch.cat(biases, dim=1), lengths],
                {"direction": "bidirectional", "hidden_size": size},
                dtype=x.dtype,
                shape=[length, 2, n, size],
                version=14,
            )  # (L, 2, N, H): onnxruntime runs only the time-major layout
            hidden = output.permute(2, 0, 1, 3).reshape(n, length, 2 * size)
        return _zero_padding(hidden, mask)


def _onnx_gates(lstm: nn.LSTM, layer: int, name: str) -> Tensor:
    """A layer's ``weight_<name>`` (or a bias, ``bias_<name>``) of both directions, ``(2, 4H,
    ...)``, its gates in ONNX's order (input, output, forget, cell; torch: input, forget, cell,
    output)."""
    key = name if name.startswith("bias") else f"weight_{name}"
    if key.startswith("bias") and not lstm.bias:
        return lstm.weight_ih_l0.new_zeros(2, 4 * lstm.hidden_size)
    stacked = []
    for suffix in ("", "_reverse"):
        gate_in, forget, cell, out = getattr(lstm, f"{key}_l{layer}{suffix}").chunk(4)
        stacked.append(torch.cat([gate_in, out, forget, cell]))
    return torch.stack(stacked)


def sinusoidal_positions(length: int, d_model: int, device=None, dtype=None) -> Tensor:
    """Fixed sin/cos position encodings ``(length, d_model)`` (Vaswani et al., 2017); any length."""
    position = torch.arange(length, device=device, dtype=torch.float).unsqueeze(1)
    steps = torch.arange(0, d_model, 2, device=device, dtype=torch.float)
    div = torch.exp(steps * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model, device=device)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: d_model // 2])
    return table.to(dtype) if dtype is not None else table


class TransformerEncoder(nn.Module):
    """Pre-norm Transformer encoder: input projection, positions, ``nn.TransformerEncoder``.

    Padding is excluded from attention with ``src_key_padding_mask=~mask``, so it never leaks into
    real tokens; rows without any real token attend to everything instead (a fully masked row
    would give NaN) and output zeros like all padded positions.

    ``positions="sinusoidal"`` works for any length. ``positions="learned"`` holds
    ``max_positions`` vectors; positions beyond ``max_positions - 1`` reuse the last vector (the
    indices are clamped), so longer sentences are still encoded and every token is still scored,
    with degraded position information past that point.
    """

    def __init__(
        self,
        input_size: int,
        d_model: int = 256,
        num_layers: int = 2,
        num_heads: int = 4,
        dim_feedforward: int = 1024,
        dropout: float = 0.1,
        positions: str = "sinusoidal",
        max_positions: int = 512,
    ) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ConfigError(f"d_model={d_model} must be divisible by num_heads={num_heads}.")
        if positions not in ("sinusoidal", "learned"):
            raise ConfigError(
                f"positions must be 'sinusoidal' or 'learned'; received {positions!r}."
            )
        self.d_model = d_model
        self.positions = positions
        self.max_positions = max_positions
        self.input_projection = nn.Linear(input_size, d_model)
        self.position_embedding = (
            nn.Embedding(max_positions, d_model) if positions == "learned" else None
        )
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        # Pre-norm layers leave the residual stream un-normalised: the final norm fixes that.
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
        )
        self.output_size = d_model

    def _positions(self, length: int, like: Tensor) -> Tensor:
        if self.position_embedding is None:
            return sinusoidal_positions(length, self.d_model, like.device, like.dtype)
        index = torch.arange(length, device=like.device).clamp(max=self.max_positions - 1)
        return self.position_embedding(index)

    def forward(self, x: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """``x (N, L, D)``, ``lengths (N,)``, ``mask (N, L)`` -> ``(N, L, d_model)``."""
        hidden = self.input_projection(x)
        hidden = self.dropout(hidden + self._positions(x.shape[1], hidden))
        padding = ~mask & mask.any(dim=1, keepdim=True)  # (N, L); empty rows: mask nothing
        hidden = self.encoder(hidden, src_key_padding_mask=padding)
        return _zero_padding(hidden, mask)
