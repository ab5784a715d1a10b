"""Dataset wrapper and dynamic padding for encoded sentences.

Written by hand because ``torch.nn.utils.rnn.pad_sequence`` builds one tensor per sentence (and
cannot pad the 3-d char ids), and ``datasets``' own ``__getitem__`` decodes Arrow on every access.
This is the data-loading hot path: the id columns become a few flat numpy arrays once, rows are
views into them, and a batch is filled into preallocated numpy arrays that become tensors
without a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from seqtagger.constants import IGNORE_INDEX

ID_COLUMNS = ("token_ids", "char_ids", "tag_ids")


def _flat(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A list<...> column as (flattened values, offsets (n + 1,)), both int64 numpy."""
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pc.list_flatten(column), offsets


def _numpy(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


class TaggedDataset(torch.utils.data.Dataset):
    """Map-style view of an encoded ``datasets.Dataset`` with fast per-row access.

    The id columns are held as a few flat int64 arrays with offsets (not millions of small
    Python lists: those cost seconds to build and make every garbage collection slow). A row is
    ``dict(token_ids (L,), char_ids (total chars,), word_lengths (L,), [tag_ids (L,)], length,
    index)`` of numpy views; ``index`` is the row's position in the dataset (restores order).
    """

    def __init__(self, dataset: datasets.Dataset) -> None:
        missing = [c for c in ("token_ids", "char_ids") if c not in dataset.column_names]
        if missing:
            raise ValueError(f"TaggedDataset: dataset lacks {missing}; run encode_dataset first")
        columns = [c for c in ID_COLUMNS if c in dataset.column_names]
        table = dataset.select_columns(columns).with_format("arrow")[:]
        token_values, self._offsets = _flat(table["token_ids"])
        self._token_ids = _numpy(token_values)
        words, _ = _flat(table["char_ids"])
        char_values, char_offsets = _flat(words)
        self._char_ids = _numpy(char_values)
        self._char_offsets = char_offsets  # per word, into _char_ids
        self._word_lengths = np.diff(char_offsets)
        self._tag_ids = _numpy(_flat(table["tag_ids"])[0]) if "tag_ids" in columns else None
        self._lengths = np.diff(self._offsets)

    def __len__(self) -> int:
        return len(self._lengths)

    @property
    def lengths(self) -> list[int]:
        """Token count per row (for the batch sampler)."""
        return self._lengths.tolist()

    def __getitem__(self, i: int) -> dict[str, Any]:
        start, end = self._offsets[i], self._offsets[i + 1]
        row = {
            "token_ids": self._token_ids[start:end],
            "char_ids": self._char_ids[self._char_offsets[start] : self._char_offsets[end]],
            "word_lengths": self._word_lengths[start:end],
            "length": int(end - start),
            "index": i,
        }
        if self._tag_ids is not None:
            row["tag_ids"] = self._tag_ids[start:end]
        return row

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Batched fetch (torch's map-style fetcher calls this with the sampler's batch)."""
        return [self[i] for i in indices]


def encode_row(
    tokens: Sequence[str], words: Any, chars: Any, *, max_word_length: int, index: int = 0
) -> dict[str, Any]:
    """One raw sentence as a collate row, with the training vocabularies (``<unk>`` for unseen
    words and characters; characters of a word cut at ``max_word_length``)."""
    clipped = [token[:max_word_length] for token in tokens]
    return {
        "token_ids": np.asarray(words.indices(tokens), dtype=np.int64),
        "char_ids": np.asarray(chars.indices(chain.from_iterable(clipped)), dtype=np.int64),
        "word_lengths": np.fromiter(map(len, clipped), dtype=np.int64, count=len(clipped)),
        "length": len(tokens),
        "index": index,
    }


def collate_batch(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad a list of rows (see ``TaggedDataset``) into a batch.

    Returns:
        token_ids: (N, L) int64, pad 0; char_ids: (N, L, W) int64, pad 0;
        tag_ids: (N, L) int64, pad -100 (only when the rows have tag_ids);
        lengths: (N,) int64; mask: (N, L) bool, True at real tokens; index: (N,) int64.
    """
    n = len(rows)
    if n == 0:
        raise ValueError("collate_batch: empty batch")
    lengths = np.fromiter((r["length"] for r in rows), dtype=np.int64, count=n)
    max_len = max(int(lengths.max()), 1)
    total = int(lengths.sum())

    # Flat positions of every real token: (row, position) pairs, in row order.
    row_of = np.repeat(np.arange(n), lengths)
    pos_of = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)

    token_ids = np.zeros((n, max_len), dtype=np.int64)
    token_ids[row_of, pos_of] = np.concatenate([r["token_ids"] for r in rows])

    word_lens = np.concatenate([r["word_lengths"] for r in rows]).astype(np.int64, copy=False)
    max_chars = max(int(word_lens.max()) if total else 0, 1)
    n_chars = int(word_lens.sum())
    char_ids = np.zeros((n, max_len, max_chars), dtype=np.int64)
    char_ids[
        np.repeat(row_of, word_lens),
        np.repeat(pos_of, word_lens),
        np.arange(n_chars) - np.repeat(np.cumsum(word_lens) - word_lens, word_lens),
    ] = np.concatenate([r["char_ids"] for r in rows])

    batch = {
        "token_ids": torch.from_numpy(token_ids),
        "char_ids": torch.from_numpy(char_ids),
        "lengths": torch.from_numpy(lengths),
        "mask": torch.from_numpy(np.arange(max_len) < lengths[:, None]),
        "index": torch.tensor([r["index"] for r in rows], dtype=torch.int64),
    }
    if "tag_ids" in rows[0]:
        tag_ids = np.full((n, max_len), IGNORE_INDEX, dtype=np.int64)
        tag_ids[row_of, pos_of] = np.concatenate([r["tag_ids"] for r in rows])
        batch["tag_ids"] = torch.from_numpy(tag_ids)
    return batch
