"""``TaggedDataset``: a map-style view of an encoded ``datasets.Dataset`` for the data loaders.

Written by hand because ``datasets``' own ``__getitem__`` decodes Arrow on every access: here
rows are numpy views into the Arrow buffers (memory-mapped from the cache), which
``data/collate.py`` pads into batches.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import torch

from seqtagger.data.batch import DOCUMENT_COLUMN, LENGTHS_SUFFIX, WINDOW_COLUMNS
from seqtagger.data.documents import unit_ids

__all__ = ["TaggedDataset", "id_columns"]


def _numpy(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _view(values: pa.Array) -> np.ndarray:
    """An integer Arrow array as numpy without a copy (memory-mapped when the array is)."""
    return values.to_numpy(zero_copy_only=True, writable=False)


def id_columns(features: datasets.Features | Mapping[str, Any]) -> dict[str, int]:
    """Column -> nesting depth (1 or 2) of every integer list column of an encoded dataset."""
    depths: dict[str, int] = {}
    for name, feature in features.items():
        depth = 0
        while isinstance(feature, datasets.Sequence | datasets.LargeList | list):
            feature = feature[0] if isinstance(feature, list) else feature.feature
            depth += 1
        if depth in (1, 2) and isinstance(feature, datasets.Value) and "int" in feature.dtype:
            depths[name] = depth
    return depths


class _Column:
    """One id column of one record batch as numpy views of its Arrow buffers: row offsets, then
    (nested columns) inner offsets, then the flat values. Nothing is copied, so a dataset read
    from the ``datasets`` cache stays memory-mapped and costs no heap however large it is."""

    def __init__(self, column: pa.ListArray, depth: int) -> None:
        self.offsets = _view(column.offsets)
        values = column.values
        self.inner: np.ndarray | None = None
        if depth == 2:
            self.inner, values = _view(values.offsets), values.values
        self.values = _view(values)

    def row(self, j: int) -> tuple[np.ndarray, np.ndarray | None]:
        start, end = self.offsets[j], self.offsets[j + 1]
        if self.inner is None:
            return self.values[start:end], None
        inner = self.inner[start : end + 1]
        return self.values[inner[0] : inner[-1]], np.diff(inner)


class TaggedDataset(torch.utils.data.Dataset):
    """Map-style view of an encoded ``datasets.Dataset`` with fast per-row access.

    Rows are numpy views straight into the Arrow record batches (no Python lists, which cost
    seconds to build and slow every garbage collection; and no copies, so memory does not grow
    with the corpus: the cache is memory-mapped). A row holds each id column as a view (nested
    columns flattened, with ``<column>_lengths`` beside them), plus ``length`` (tokens) and
    ``index`` (the row's position: restores the input order). It pickles as its dataset (the
    cache file's path), so spawned loader workers rebuild the views instead of copying ids.
    """

    def __init__(self, dataset: datasets.Dataset) -> None:
        depths = id_columns(dataset.features)
        if "length" not in dataset.column_names or not set(depths) - {"tag_ids"}:
            raise ValueError(
                f"TaggedDataset: dataset lacks encoded columns ({dataset.column_names}); "
                "run encode_dataset first"
            )
        self._dataset = dataset
        names = (*WINDOW_COLUMNS, DOCUMENT_COLUMN)
        per_row = [name for name in names if name in dataset.column_names]
        table = dataset.select_columns([*depths, "length", *per_row]).with_format("arrow")[:]
        record_batches = [b for b in table.to_batches() if b.num_rows]  # empty: no rows to find
        self._starts = np.cumsum([0] + [b.num_rows for b in record_batches]).tolist()
        self._chunks = [
            {name: _Column(b.column(name), depth) for name, depth in depths.items()}
            for b in record_batches
        ]
        self._lengths = _numpy(table["length"])
        self._per_row = {name: _numpy(table[name]) for name in per_row}
        if DOCUMENT_COLUMN in self._per_row:  # whole documents within a bound, else pieces
            units = unit_ids(self._per_row[DOCUMENT_COLUMN].tolist())
            self._per_row[DOCUMENT_COLUMN] = np.asarray(units, dtype=np.int64)

    def __getstate__(self) -> dict[str, Any]:
        return {"dataset": self._dataset}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["dataset"])

    def __len__(self) -> int:
        return len(self._lengths)

    @property
    def lengths(self) -> list[int]:
        """Token count per row, for the batch sampler: of its window when it has context (what
        the encoder runs over)."""
        return self._per_row.get("window_length", self._lengths).tolist()

    @property
    def documents(self) -> list[int] | None:
        """Each row's document unit (``data/documents.py``: a marked document within the bound,
        else a piece of 16 sentences); ``None``: the dataset has no ``document`` column."""
        documents = self._per_row.get(DOCUMENT_COLUMN)
        return None if documents is None else documents.tolist()

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self._lengths):
            raise IndexError(f"TaggedDataset: row {i} out of range ({len(self._lengths)} rows)")
        chunk = bisect_right(self._starts, i) - 1
        j = i - self._starts[chunk]
        row: dict[str, Any] = {"length": int(self._lengths[i]), "index": i}
        for name, values in self._per_row.items():
            row[name] = int(values[i])
        for name, column in self._chunks[chunk].items():
            row[name], inner = column.row(j)
            if inner is not None:
                row[name + LENGTHS_SUFFIX] = inner
        return row

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Batched fetch (torch's map-style fetcher calls this with the sampler's batch)."""
        return [self[i] for i in indices]
