"""Dataset wrapper and dynamic padding for encoded sentences.

Written by hand because ``torch.nn.utils.rnn.pad_sequence`` builds one tensor per sentence (and
cannot pad the 3-d char ids), and ``datasets``' own ``__getitem__`` decodes Arrow on every access.
This is the data-loading hot path: rows are Python lists converted once, and a batch is filled
into preallocated numpy arrays that become tensors without a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import datasets
import numpy as np
import torch

# Same value as seqtagger.models.loss.IGNORE_INDEX; kept local so data code never imports models.
IGNORE_INDEX = -100
ID_COLUMNS = ("token_ids", "char_ids", "tag_ids", "length")


class TaggedDataset(torch.utils.data.Dataset):
    """Map-style view of an encoded ``datasets.Dataset`` with fast per-row access.

    Rows are ``dict(token_ids, char_ids, [tag_ids], length, index)`` where ``index`` is the row's
    position in the dataset (lets predictions be put back in input order).
    """

    def __init__(self, dataset: datasets.Dataset) -> None:
        missing = [c for c in ("token_ids", "char_ids") if c not in dataset.column_names]
        if missing:
            raise ValueError(f"TaggedDataset: dataset lacks {missing}; run encode_dataset first")
        columns = [c for c in ID_COLUMNS if c in dataset.column_names]
        data = dataset.select_columns(columns).with_format(None)[:]
        self._token_ids: list[list[int]] = data["token_ids"]
        self._char_ids: list[list[list[int]]] = data["char_ids"]
        self._tag_ids: list[list[int]] | None = data.get("tag_ids")
        self._lengths: list[int] = data.get("length") or [len(t) for t in self._token_ids]

    def __len__(self) -> int:
        return len(self._token_ids)

    @property
    def lengths(self) -> list[int]:
        """Token count per row (for the batch sampler)."""
        return self._lengths

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = {
            "token_ids": self._token_ids[i],
            "char_ids": self._char_ids[i],
            "length": self._lengths[i],
            "index": i,
        }
        if self._tag_ids is not None:
            row["tag_ids"] = self._tag_ids[i]
        return row

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        """Batched fetch (torch's map-style fetcher calls this with the sampler's batch)."""
        return [self[i] for i in indices]


def collate_batch(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad a list of rows into a batch.

    Returns:
        token_ids: (N, L) int64, pad 0; char_ids: (N, L, W) int64, pad 0;
        tag_ids: (N, L) int64, pad -100 (only when the rows have tag_ids);
        lengths: (N,) int64; mask: (N, L) bool, True at real tokens; index: (N,) int64.
    """
    n = len(rows)
    if n == 0:
        raise ValueError("collate_batch: empty batch")
    lengths = np.fromiter([len(r["token_ids"]) for r in rows], dtype=np.int64, count=n)
    max_len = max(int(lengths.max()), 1)
    total = int(lengths.sum())

    # Flat positions of every real token: (row, position) pairs, in row order.
    row_of = np.repeat(np.arange(n), lengths)
    pos_of = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)

    token_ids = np.zeros((n, max_len), dtype=np.int64)
    token_ids[row_of, pos_of] = np.fromiter(
        chain.from_iterable(r["token_ids"] for r in rows), dtype=np.int64, count=total
    )

    words = list(chain.from_iterable(r["char_ids"] for r in rows))
    word_lens = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    max_chars = max(int(word_lens.max()) if len(words) else 0, 1)
    n_chars = int(word_lens.sum())
    char_ids = np.zeros((n, max_len, max_chars), dtype=np.int64)
    char_ids[
        np.repeat(row_of, word_lens),
        np.repeat(pos_of, word_lens),
        np.arange(n_chars) - np.repeat(np.cumsum(word_lens) - word_lens, word_lens),
    ] = np.fromiter(chain.from_iterable(words), dtype=np.int64, count=n_chars)

    batch = {
        "token_ids": torch.from_numpy(token_ids),
        "char_ids": torch.from_numpy(char_ids),
        "lengths": torch.from_numpy(lengths),
        "mask": torch.from_numpy(np.arange(max_len) < lengths[:, None]),
        "index": torch.tensor([r["index"] for r in rows], dtype=torch.int64),
    }
    if "tag_ids" in rows[0]:
        tag_ids = np.full((n, max_len), IGNORE_INDEX, dtype=np.int64)
        tag_ids[row_of, pos_of] = np.fromiter(
            chain.from_iterable(r["tag_ids"] for r in rows), dtype=np.int64, count=total
        )
        batch["tag_ids"] = torch.from_numpy(tag_ids)
    return batch
