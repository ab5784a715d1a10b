"""The inputs of an exported graph: sentences -> featurized, padded numpy arrays, without torch.

The checkpoint's own featurizer (``data/featurizers.py``, rebuilt from the sidecar) encodes the
words, as in training and in ``Predictor``; the columns are padded here as ``collate_columns``
pads them, except the characters, padded to the fixed width the graph was exported with
(``max_word_length``: the character encoders and the memory's word keys ignore padding
characters, so the features are the same). A model with a vector store reads each word's store
row from the store's word list in the sidecar (:class:`StoreRows`: the store's matrix is in the
graph). A pretrained transformer's windows are planned here, on the host, from the rows' subword
counts (``models/subwords.py``; that featurizer and its planning import torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np

from seqtagger.data.featurizers import Featurizer, WordCharFeaturizer, featurizer_from_dict
from seqtagger.data.vocab import Vocab

__all__ = ["GraphFeaturizer", "StoreRows", "rebuild_featurizer"]

VECTORS_KIND = "word_char_vectors"  # models/vectors.py's VectorFeaturizer
SUBWORDS_KIND = "subword"  # models/transformer_embedder.py's SubwordFeaturizer


class StoreRows:
    """A vector featurizer without the store's matrix: word and character ids, plus each word's
    store row + 1 in ``vector_ids`` (0: none), its exact form else its lowercased one, as
    ``VectorStore.row`` finds it."""

    def __init__(self, words: WordCharFeaturizer, store_words: Sequence[str]) -> None:
        self.words = words
        self.pad_values = words.pad_values
        self.rows = {word: row + 1 for row, word in enumerate(store_words)}

    def encode(self, sentences: Sequence[Sequence[str]]) -> dict[str, list[Any]]:
        columns = self.words.encode(sentences)
        rows = self.rows
        columns["vector_ids"] = [
            [rows.get(word) or rows.get(word.lower(), 0) for word in tokens] for tokens in sentences
        ]
        return columns


def rebuild_featurizer(
    record: Mapping[str, Any], vocabs: Mapping[str, Vocab], store_words: Sequence[str] | None
) -> Featurizer | StoreRows:
    """The featurizer of a sidecar's ``featurizer`` record; a vector featurizer (also inside a
    transformer's) reads the ``store_words`` of the sidecar instead of an installed store."""
    kind = record.get("kind", WordCharFeaturizer.kind)
    if kind == VECTORS_KIND:
        return StoreRows(WordCharFeaturizer.from_dict(record, vocabs), store_words or ())
    if kind == SUBWORDS_KIND:
        from seqtagger.models.transformer_embedder import PretrainedData, SubwordFeaturizer

        inner = record.get("inner")
        inner_featurizer = rebuild_featurizer(inner, vocabs, store_words) if inner else None
        return SubwordFeaturizer(PretrainedData.from_dict(record), inner_featurizer)
    return featurizer_from_dict(record, vocabs)


class GraphFeaturizer:
    """``__call__(sentences, contexts, documents) -> {input name: array}`` for the graph's
    ``inputs``: ids padded to ``(N, T)`` (characters ``(N, T, char_width)``), ``mask (N, L)``,
    with context ``window_mask (N, T)`` and ``context_offset (N,)``, with documents
    ``document_ids (N,)``, with windows their plan ``(B,)``. A graph that reads context or
    documents and is given none reads no context words and one document a sentence."""

    def __init__(
        self,
        featurizer: Featurizer | StoreRows,
        inputs: Sequence[str],
        char_width: int,
        windows: tuple[int, int] | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.inputs = [name for name in inputs if name != "temperature"]
        self.char_width = char_width
        self.windows = windows  # (subwords per window, stride) of a pretrained transformer
        self.pad_values = dict(getattr(featurizer, "pad_values", {}))

    def columns(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
    ) -> dict[str, list[Any]]:
        """The featurizer's columns, of the windows with context (as ``Predictor`` encodes)."""
        if contexts is None:
            return self.featurizer.encode(sentences)
        from seqtagger.data.context import encode_in_context

        lefts, rights = zip(*contexts, strict=True)
        return encode_in_context(self.featurizer, sentences, lefts, rights)

    def __call__(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> dict[str, np.ndarray]:
        if contexts is None and "window_mask" in self.inputs:  # a model with context, none given
            contexts = [((), ())] * len(sentences)
        if documents is None and "document_ids" in self.inputs:  # one document a sentence
            documents = range(len(sentences))
        columns = self.columns(sentences, contexts)
        arrays = {"mask": length_mask(columns["length"])}
        if "window_length" in columns:
            arrays["window_mask"] = length_mask(columns["window_length"])
            arrays["context_offset"] = np.asarray(columns["context_offset"], dtype=np.int64)
        if documents is not None:
            arrays["document_ids"] = np.asarray(documents, dtype=np.int64)
        for name in self.inputs:
            if name in columns and name not in arrays:
                fill = self.pad_values.get(name, 0)
                width = self.char_width if name == "char_ids" else None
                arrays[name] = pad(columns[name], fill, width)
        if self.windows is not None:
            arrays.update(plan_arrays(arrays["word_ends"], *self.windows))
        return {name: arrays[name] for name in self.inputs}


def length_mask(lengths: Sequence[int]) -> np.ndarray:
    """``(N, max(L, 1))`` bool, True at each row's first ``lengths[i]`` positions."""
    counts = np.asarray(lengths, dtype=np.int64).reshape(-1)
    return np.arange(max(int(counts.max(initial=0)), 1)) < counts[:, None]


def pad(rows: Sequence[Sequence[Any]], fill: int, width: int | None = None) -> np.ndarray:
    """Rows of ids -> ``(N, T)``; rows of lists of ids -> ``(N, T, W)``, ``W = width`` (or the
    longest list); ``fill`` elsewhere. ``T`` and ``W`` are at least 1."""
    mask = length_mask([len(row) for row in rows])
    items = list(chain.from_iterable(rows))
    if not items or not isinstance(items[0], list):
        out = np.full(mask.shape, fill, dtype=np.int64)
        out[mask] = np.asarray(items, dtype=np.int64)
        return out
    inner = length_mask([len(item) for item in items])
    width = width or inner.shape[1]
    out = np.full((*mask.shape, width), fill, dtype=np.int64)
    lists = np.full((len(items), width), fill, dtype=np.int64)
    lists[:, : inner.shape[1]][inner] = np.fromiter(chain.from_iterable(items), dtype=np.int64)
    out[mask] = lists
    return out


def plan_arrays(word_ends: np.ndarray, window: int, stride: int) -> dict[str, np.ndarray]:
    """The windows of a batch as ``plan_windows`` cuts them (``models/subwords.py``), from each
    row's subword count (its last word's end): ``window_rows``, ``window_starts``,
    ``window_sizes``."""
    from seqtagger.models.subwords import plan_windows

    plan = plan_windows(word_ends.max(axis=1, initial=0).tolist(), window, stride)
    return {
        "window_rows": plan.rows.numpy(),
        "window_starts": plan.starts.numpy(),
        "window_sizes": plan.sizes.numpy(),
    }
