"""The batch: what ``collate_batch`` (training, eval) and ``collate_columns`` (prediction) write
and the model reads, every key with its shape and its writer, and the views of it the model's
parts take.

Keys (N sentences, L tokens of the longest, T words of the longest window, W characters):

- ``lengths (N,)`` int64, ``mask (N, L)`` bool (True at real tokens), ``index (N,)`` (row
  positions: restores the input order), ``lengths_cpu (N,)``: a copy of ``lengths`` that stays on
  the host (:data:`HOST_KEYS`): written by collate.
- the featurizer's id columns (``data/featurizers.py``): ``token_ids (N, T)``, ``char_ids (N, T,
  W)``, ``vector_ids (N, T)``, ``subword_ids (N, S)`` with ``word_starts``/``word_ends``; padded
  with 0 or the featurizer's ``pad_values``.
- one ``<task>_ids (N, L)`` per task (``tag_ids`` for the default task; ``Task.ids_key``), padded
  with ``IGNORE_INDEX`` (-100): written by encoding (``data/encoding.py``) for tagged splits only.
- with document context (``data/context.py``): ``window_lengths (N,)``, ``window_lengths_cpu``,
  ``window_mask (N, T)``, ``context_offset (N,)`` (:func:`window_keys`, from
  :data:`WINDOW_COLUMNS`); the featurizer's columns then cover the windows.
- with documents: ``document_ids (N,)``, each sentence's document unit (``data/documents.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import numpy as np
import torch
from torch import Tensor

from seqtagger.constants import IGNORE_INDEX

__all__ = [
    "DOCUMENT_COLUMN",
    "HOST_KEYS",
    "PAD_VALUES",
    "WINDOW_COLUMNS",
    "Batch",
    "host_lengths",
    "sentence_positions",
    "window_keys",
    "window_view",
]


class Batch(TypedDict, total=False):
    """The fixed keys of a batch (see the module docstring for the per-task and featurizer
    columns, whose names depend on the tasks and the embedder)."""

    lengths: Tensor
    mask: Tensor
    index: Tensor
    lengths_cpu: Tensor
    tag_ids: Tensor
    document_ids: Tensor
    window_lengths: Tensor
    window_lengths_cpu: Tensor
    window_mask: Tensor
    context_offset: Tensor


LENGTHS_SUFFIX = "_lengths"
"""Row key of the inner lengths of a nested column: ``char_ids`` -> ``char_ids_lengths``."""
PAD_VALUES = {"tag_ids": IGNORE_INDEX}
"""Padding of columns that do not pad with 0; the datamodule adds every task's ids column."""
HOST_KEYS = frozenset({"lengths_cpu", "window_lengths_cpu"})
"""Batch keys that stay on the host when a batch moves to a device: ``lengths_cpu`` is what
``pack_padded_sequence`` reads, so the BiLSTM never copies lengths back from the GPU."""
WINDOW_COLUMNS = ("window_length", "context_offset")
"""Per-row ints of rows encoded with document context: the words of each row's window, and
where the sentence starts in it."""
DOCUMENT_COLUMN = "document"
"""Per-row int: the sentence's document in its file; the batch carries its unit as
``document_ids``."""


def task_pad_values(ids_keys: Sequence[str]) -> dict[str, int]:
    """Every task's ids column pads with the loss' ignore index, never with 0 (a real class)."""
    return dict.fromkeys(ids_keys, IGNORE_INDEX)


def window_keys(window_lengths: Sequence[int], offsets: Sequence[int]) -> dict[str, Tensor]:
    """The batch keys of rows encoded with document context: ``window_lengths (N,)``, its host
    copy ``window_lengths_cpu``, ``window_mask (N, T)`` (True at the window's words) and
    ``context_offset (N,)`` (the sentence's first position in its window)."""
    lengths = np.asarray(window_lengths, dtype=np.int64).reshape(-1)
    return {
        "window_lengths": torch.from_numpy(lengths),
        "window_lengths_cpu": torch.from_numpy(lengths.copy()),
        "window_mask": torch.from_numpy(np.arange(max(int(lengths.max()), 1)) < lengths[:, None]),
        "context_offset": torch.as_tensor(np.asarray(offsets, dtype=np.int64).reshape(-1)),
    }


def window_view(batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    """The batch as the embedder and encoder see it: with document context, its window
    lengths and ``window_mask`` in place of the sentences'; else the batch itself."""
    if "window_mask" not in batch:
        return batch
    return {
        **batch,
        "lengths": batch["window_lengths"],
        "lengths_cpu": batch["window_lengths_cpu"],
        "mask": batch["window_mask"],
    }


def sentence_positions(encoded: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
    """``encoded (N, T, H)`` of the windows -> ``(N, L, H)`` at each sentence's own positions
    (from ``context_offset``); ``encoded`` itself when the batch has no context. Positions past
    a sentence's end repeat a window position: the mask keeps them out of loss and decoding."""
    if "context_offset" not in batch:
        return encoded
    width = batch["mask"].shape[1]
    steps = torch.arange(width, device=encoded.device)
    index = (batch["context_offset"][:, None] + steps).clamp_(max=encoded.shape[1] - 1)
    return encoded.gather(1, index[:, :, None].expand(-1, -1, encoded.shape[2]))


def host_lengths(batch: Mapping[str, Tensor]) -> Tensor:
    """The batch's lengths ``(N,)`` on the host: ``lengths_cpu`` from collate, which never left
    the CPU. A batch built without it pays one copy (a device sync on a GPU)."""
    lengths = batch.get("lengths_cpu")
    return lengths if lengths is not None else batch["lengths"].cpu()
