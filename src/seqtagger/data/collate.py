"""Dynamic padding of encoded sentences into a batch, for any featurizer's columns.

Written by hand because ``torch.nn.utils.rnn.pad_sequence`` builds one tensor per sentence (and
cannot pad nested ids such as characters per word). This is the data-loading hot path: rows are
numpy views (``data/tagged_dataset.py``), and a batch is filled into preallocated numpy arrays
that become tensors without a copy. Prediction collates with it too, so it imports neither
``datasets`` nor Arrow.

Columns are found by their Arrow type, so a new featurizer needs nothing here: ``list<int>``
(one id per item: ``token_ids``, ``tag_ids``, subword ids) pads to ``(N, T)`` and
``list<list<int>>`` (a list per item: ``char_ids``) pads to ``(N, T, W)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import torch

from seqtagger.data.batch import (
    DOCUMENT_COLUMN,
    HOST_KEYS,
    LENGTHS_SUFFIX,
    PAD_VALUES,
    WINDOW_COLUMNS,
    window_keys,
)


def collate_columns(
    columns: Mapping[str, Sequence[Any]],
    pad_values: Mapping[str, int] | None = None,
    start_index: int = 0,
) -> dict[str, torch.Tensor]:
    """A featurizer's ``encode`` output padded into the batch ``collate_batch`` gives for the same
    columns stored as a dataset (rows indexed from ``start_index``), one pass per column:
    prediction's hot path, where the columns are collated at once and never stored."""
    lengths = np.asarray(columns["length"], dtype=np.int64).reshape(-1)
    if lengths.size == 0:
        raise ValueError("collate_columns: empty batch")
    fills = {**PAD_VALUES, **(pad_values or {})}
    count = len(lengths)
    batch = {
        "lengths": torch.from_numpy(lengths),
        "mask": torch.from_numpy(np.arange(max(int(lengths.max()), 1)) < lengths[:, None]),
        "index": torch.arange(start_index, start_index + count, dtype=torch.int64),
        "lengths_cpu": torch.from_numpy(lengths.copy()),
    }
    for name, values in columns.items():
        if name not in ("length", DOCUMENT_COLUMN, *WINDOW_COLUMNS):
            batch[name] = torch.from_numpy(_pad_column(values, count, fills.get(name, 0)))
    if DOCUMENT_COLUMN in columns:
        batch["document_ids"] = torch.as_tensor(np.asarray(columns[DOCUMENT_COLUMN], np.int64))
    if "window_length" in columns:
        batch.update(window_keys(columns["window_length"], columns["context_offset"]))
    return batch


def _pad_column(values: Sequence[Sequence[Any]], count: int, fill: int) -> np.ndarray:
    """One column (a list of ints, or a list of lists of ints, per row) padded to ``(N, T)`` or
    ``(N, T, W)``."""
    row_lengths = np.fromiter(map(len, values), dtype=np.int64, count=count)
    items = list(chain.from_iterable(values))
    width = max(int(row_lengths.max()), 1)
    rows, positions = np.repeat(np.arange(count), row_lengths), _positions(row_lengths)
    if not (items and isinstance(items[0], list)):
        out = np.full((count, width), fill, dtype=np.int64)
        out[rows, positions] = np.fromiter(items, dtype=np.int64, count=len(items))
        return out
    inner = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    ids = np.fromiter(chain.from_iterable(items), dtype=np.int64, count=int(inner.sum()))
    out = np.full((count, width, max(int(inner.max()), 1)), fill, dtype=np.int64)
    out[np.repeat(rows, inner), np.repeat(positions, inner), _positions(inner)] = ids
    return out


def _pad_flat(rows: list[dict[str, Any]], name: str, fill: int) -> np.ndarray:
    """Pad one ``list<int>`` column to ``(N, T)``, T = its longest row."""
    lengths = np.fromiter((len(r[name]) for r in rows), dtype=np.int64, count=len(rows))
    out = np.full((len(rows), max(int(lengths.max()), 1)), fill, dtype=np.int64)
    out[np.repeat(np.arange(len(rows)), lengths), _positions(lengths)] = np.concatenate(
        [r[name] for r in rows]
    )
    return out


def _pad_nested(rows: list[dict[str, Any]], name: str, fill: int) -> np.ndarray:
    """Pad one ``list<list<int>>`` column to ``(N, T, W)``."""
    outer = [r[name + LENGTHS_SUFFIX] for r in rows]
    outer_lengths = np.fromiter(map(len, outer), dtype=np.int64, count=len(rows))
    inner = np.concatenate(outer).astype(np.int64, copy=False)
    width = max(int(inner.max()) if inner.size else 0, 1)
    out = np.full((len(rows), max(int(outer_lengths.max()), 1), width), fill, dtype=np.int64)
    row_of = np.repeat(np.arange(len(rows)), outer_lengths)
    out[
        np.repeat(row_of, inner), np.repeat(_positions(outer_lengths), inner), _positions(inner)
    ] = np.concatenate([r[name] for r in rows])
    return out


def _positions(lengths: np.ndarray) -> np.ndarray:
    """Position of every item inside its group: ``[2, 1] -> [0, 1, 0]``."""
    return np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def collate_batch(
    rows: list[dict[str, Any]], pad_values: Mapping[str, int] | None = None
) -> dict[str, torch.Tensor]:
    """Pad a list of rows (see ``TaggedDataset``) into a batch.

    Returns every id column padded (``token_ids (N, L)``, ``char_ids (N, L, W)``, ``tag_ids (N,
    L)`` padded with -100, ...; 0 unless ``pad_values``/``PAD_VALUES`` say otherwise), plus
    ``lengths (N,)`` int64, ``mask (N, L)`` bool (True at real tokens), ``index (N,)`` and
    ``lengths_cpu (N,)`` int64, a copy of ``lengths`` that stays on the host (``HOST_KEYS``);
    rows with document context add :func:`window_keys` (their id columns cover the windows),
    and rows with a document id ``document_ids (N,)``.
    """
    if not rows:
        raise ValueError("collate_batch: empty batch")
    fills = {**PAD_VALUES, **(pad_values or {})}
    lengths = np.fromiter((r["length"] for r in rows), dtype=np.int64, count=len(rows))
    batch = {
        "lengths": torch.from_numpy(lengths),
        "mask": torch.from_numpy(np.arange(max(int(lengths.max()), 1)) < lengths[:, None]),
        "index": torch.tensor([r["index"] for r in rows], dtype=torch.int64),
        "lengths_cpu": torch.from_numpy(lengths.copy()),
    }
    for name in rows[0]:
        if name in ("length", "index", DOCUMENT_COLUMN, *WINDOW_COLUMNS):
            continue
        if name.endswith(LENGTHS_SUFFIX):
            continue
        pad = _pad_nested if name + LENGTHS_SUFFIX in rows[0] else _pad_flat
        batch[name] = torch.from_numpy(pad(rows, name, fills.get(name, 0)))
    if DOCUMENT_COLUMN in rows[0]:
        documents = [r[DOCUMENT_COLUMN] for r in rows]
        batch["document_ids"] = torch.tensor(documents, dtype=torch.int64)
    if "window_length" in rows[0]:
        windows = [(r["window_length"], r["context_offset"]) for r in rows]
        batch.update(window_keys(*zip(*windows, strict=True)))
    return batch


def batch_to_device(
    batch: Mapping[str, torch.Tensor], device: torch.device | str
) -> dict[str, torch.Tensor]:
    """Move every tensor of a collated batch to ``device``, except ``HOST_KEYS`` (host copies).

    Copies are ``non_blocking`` (asynchronous from pinned memory), as Lightning's own transfer.
    """
    return {
        name: value if name in HOST_KEYS else value.to(device, non_blocking=True)
        for name, value in batch.items()
    }
