"""The documents that batches of whole documents hold (``data.batch_unit=documents``) and that a
document memory pools over: the documents the files mark, within a bound.

Readers number a file's documents from 1 at each mark (``-DOCSTART-``, CoNLL-U ``# newdoc``)
and give 0 to the sentences before any mark, so a file without marks (tweets, chat, one
sentence a line: most corpora in CoNLL columns) is one run of 0s. Batched as one document, such
a file was one batch an epoch. Two rules instead:

* a marked document (id >= 1) of at most :data:`MAX_DOCUMENT_SENTENCES` sentences stays whole
  (CoNLL-2003's longest is 197, so its recipes batch exactly the documents its files mark);
* text without marks (id <= 0), and a marked document longer than that bound, is cut into
  pieces of :data:`PIECE_SENTENCES` consecutive sentences (about a CoNLL-2003 document: median
  11, mean 15 sentences), so batch sizes in documents mean about as many sentences either way.

Every document or piece gets an id of its own (0, 1, 2, ... in order): the memory never pools
two of them, whatever shares a batch. Training's batches (``TaggedDataset``), ``seqtagger-eval``
and ``Predictor`` (``document_batches``) go through :func:`document_units`, so they hold and
pool the same sentences together. Document context (``data.context``) reads the documents as
marked: this bound is the batches' and the memory's alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, groupby, islice, repeat
from operator import itemgetter
from typing import TypeVar

__all__ = ["MAX_DOCUMENT_SENTENCES", "PIECE_SENTENCES", "document_units", "unit_ids"]

MAX_DOCUMENT_SENTENCES = 256
"""Sentences of the longest marked document kept whole (CoNLL-2003's longest: 197)."""
PIECE_SENTENCES = 16
"""Sentences of each piece of text without marks (or of a longer marked document)."""

T = TypeVar("T")


def document_units(pairs: Iterable[tuple[T, int]]) -> Iterator[tuple[T, int]]:
    """``(item, unit id)`` for each ``(item, document id)``, in order and lazily: a marked
    document is held back until it ends or passes the bound (at most
    ``MAX_DOCUMENT_SENTENCES + 1`` items held), so the pairs are read in step."""
    next_id = 0
    for document, run in groupby(pairs, key=itemgetter(1)):
        items: Iterator[T] = (item for item, _ in run)
        if document > 0:
            held = list(islice(items, MAX_DOCUMENT_SENTENCES + 1))
            if len(held) <= MAX_DOCUMENT_SENTENCES:
                yield from zip(held, repeat(next_id))
                next_id += 1
                continue
            items = chain(held, items)
        count = 0
        for count, item in enumerate(items):
            yield item, next_id + count // PIECE_SENTENCES
        next_id += count // PIECE_SENTENCES + 1


def unit_ids(documents: Sequence[int]) -> list[int]:
    """The unit id of each sentence of a split whose document ids are ``documents``."""
    return [unit for _, unit in document_units(zip(repeat(None), documents))]
