"""Document context: each sentence is encoded with the words around it in its document, and
only the sentence is scored (FLERT, Schweter & Akbik 2020, for a BiLSTM or a transformer alike).

CoNLL-2003 sentences are lines of news documents: sports tables, headlines, datelines. The lines
around a line often decide an entity's type ("Leicester" a club or a city). With
``data.context=K`` the encoder reads up to K words of the same document on each side of a
sentence (whole neighbouring sentences, the farthest one cut at K words); the head, the loss,
decoding and every metric stay on the sentence's own words.

One rule (:func:`context_of`) serves training and validation (:func:`add_context`, a cached
``Dataset.map`` step), ``seqtagger-eval`` and ``Predictor`` (:func:`stream_contexts`, lazy over
a stream), so the model sees the same windows in each. A featurizer encodes a window as one
sentence (:func:`encode_in_context`), so every embedder works with context unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

from seqtagger.data.featurizers import Featurizer
from seqtagger.errors import ConfigError

if TYPE_CHECKING:
    import datasets

__all__ = ["add_context", "check_context", "context_of", "encode_in_context", "stream_contexts"]

LEFT, RIGHT = "context_left", "context_right"
"""Dataset columns of the context words on each side (lists of strings)."""


def check_context(size: Any) -> int:
    """``data.context`` as an int >= 0, else a ``ConfigError`` naming the key."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ConfigError(f"data.context={size!r}: expected words of context per side, >= 0")
    return size


def context_of(
    i: int, sentences: Sequence[Sequence[str]], documents: Sequence[int], size: int
) -> tuple[list[str], list[str]]:
    """``(left, right)``: up to ``size`` words before and after sentence ``i`` from the
    sentences of its own document (the nearest words; the farthest sentence is cut)."""
    document = documents[i]
    before: list[Sequence[str]] = []
    count, j = 0, i - 1
    while count < size and j >= 0 and documents[j] == document:
        before.append(sentences[j])
        count, j = count + len(sentences[j]), j - 1
    left = [word for sentence in reversed(before) for word in sentence][max(count - size, 0) :]
    right: list[str] = []
    j = i + 1
    while len(right) < size and j < len(sentences) and documents[j] == document:
        right.extend(sentences[j])
        j += 1
    return left, right[:size]


def _context_batch(
    batch: dict[str, list[Any]], indices: list[int], *, source: datasets.Dataset, size: int
) -> dict[str, list[list[str]]]:
    """``Dataset.map`` function: the contexts of a run of rows, read from the rows around it
    (``size`` rows each side are enough: every sentence has a word)."""
    start, stop = max(indices[0] - size, 0), min(indices[-1] + size + 1, len(source))
    window = source[start:stop]
    documents = window.get("document") or [0] * (stop - start)
    out: dict[str, list[list[str]]] = {LEFT: [], RIGHT: []}
    for i in indices:
        left, right = context_of(i - start, window["tokens"], documents, size)
        out[LEFT].append(left)
        out[RIGHT].append(right)
    return out


def add_context(dataset: datasets.Dataset, size: int, split: str) -> datasets.Dataset:
    """``dataset`` with :data:`LEFT`/:data:`RIGHT` columns (rows in document order; a dataset
    without a ``document`` column is one document). Cached like every ``map`` step."""
    columns = [name for name in ("tokens", "document") if name in dataset.column_names]
    return dataset.map(
        _context_batch,
        batched=True,
        with_indices=True,
        fn_kwargs={"source": dataset.select_columns(columns), "size": size},
        desc=f"{split}: {size} words of document context",
    )


def encode_in_context(
    featurizer: Featurizer,
    sentences: Sequence[Sequence[str]],
    lefts: Sequence[Sequence[str]],
    rights: Sequence[Sequence[str]],
) -> dict[str, list[Any]]:
    """The featurizer's columns for each window ``left + sentence + right``, with ``length``
    (the sentence's words: what is scored), ``window_length`` and ``context_offset`` (where
    the sentence starts in its window)."""
    parts = zip(lefts, sentences, rights, strict=True)
    windows = [[*left, *tokens, *right] for left, tokens, right in parts]
    columns = featurizer.encode(windows)
    columns["window_length"] = columns["length"]
    columns["length"] = [len(tokens) for tokens in sentences]
    columns["context_offset"] = [len(left) for left in lefts]
    return columns


def stream_contexts(
    sentences: Iterable[Sequence[str]], documents: Iterable[int] | None, size: int
) -> Iterator[tuple[Sequence[str], list[str], list[str]]]:
    """``(sentence, left, right)`` for each sentence of a stream, in order, lazily: a sentence
    is yielded once its right context is complete, and only the sentences that later contexts
    still need are kept. ``documents=None``: the whole stream is one document."""
    kept: list[Sequence[str]] = []
    kept_documents: list[int] = []
    first = 0  # position in ``kept`` of the first sentence not yet yielded
    pairs = zip(sentences, documents, strict=True) if documents is not None else None
    for sentence, document in pairs or zip(sentences, repeat(0)):
        kept.append(sentence)
        kept_documents.append(document)
        while first < len(kept) and _right_complete(first, kept, kept_documents, size):
            yield kept[first], *context_of(first, kept, kept_documents, size)
            first += 1
        drop = max(first - size, 0)
        del kept[:drop], kept_documents[:drop]
        first -= drop
    for i in range(first, len(kept)):
        yield kept[i], *context_of(i, kept, kept_documents, size)


def _right_complete(
    i: int, kept: Sequence[Sequence[str]], documents: Sequence[int], size: int
) -> bool:
    """Whether the sentences after ``i`` already hold its whole right context."""
    count = 0
    for j in range(i + 1, len(kept)):
        if documents[j] != documents[i]:
            return True
        count += len(kept[j])
        if count >= size:
            return True
    return size == 0
