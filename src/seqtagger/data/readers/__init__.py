"""Corpus readers: a corpus file (or saved/hub dataset) -> `datasets.Dataset` of tokens and tags.

Every reader yields sentences as ``{"tokens": list[str], "tags": list[str] | None}`` from a lazy,
pure-Python :meth:`Reader.iter_sentences`, and :meth:`Reader.read` turns that generator into a
cached ``datasets.Dataset`` with the columns of :data:`FEATURES`.

Why hand-written parsers although ``datasets`` has loaders: dataset scripts (the hub
``conll2003`` loader) no longer run in ``datasets`` >= 4, its ``text``/``csv`` builders cannot
cut sentences at blank lines, skip ``-DOCSTART-`` or CoNLL-U multiword ranges, and its errors
do not name the line of the corpus that is wrong.

Tokens: a token may not be empty, whitespace only, or hold a line break or a lone surrogate
(such tokens cannot be written back as one CoNLL column); spaces *inside* a token (CoNLL-U
``1 000``, ``New\u00a0York``) are kept, and writers of CoNLL output replace them (see
:func:`seqtagger.metrics.conlleval.conll_token`).

Modules: ``base`` (the :class:`Reader` class, caching, locations, skip counts, errors),
``columns`` (CoNLL and CoNLL-U), ``records`` (JSON, JSONL, Parquet), ``dataset``
(``save_to_disk`` folders and the hub) and ``formats`` (the table of input formats). The readers
are imported on first use, so that the format table loads without ``datasets``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqtagger.data.readers.formats import (
    DEFAULT_FORMAT,
    FORMATS,
    InputFormat,
    format_for_path,
    reader_for_path,
)
from seqtagger.errors import CorpusFormatError, CorpusNotFoundError
from seqtagger.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from seqtagger.data.readers.base import FEATURES, Reader
    from seqtagger.data.readers.columns import ConllReader, ConlluReader
    from seqtagger.data.readers.dataset import DiskReader, HubReader
    from seqtagger.data.readers.records import JsonReader

__all__ = [
    "DEFAULT_FORMAT",
    "FEATURES",
    "FORMATS",
    "ConllReader",
    "ConlluReader",
    "CorpusFormatError",
    "CorpusNotFoundError",
    "DiskReader",
    "HubReader",
    "InputFormat",
    "JsonReader",
    "Reader",
    "format_for_path",
    "reader_for_path",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FEATURES": "base",
        "Reader": "base",
        "ConllReader": "columns",
        "ConlluReader": "columns",
        "JsonReader": "records",
        "DiskReader": "dataset",
        "HubReader": "dataset",
    },
)
