"""The one table of input formats: format name -> reader class and how a path is recognised.

Training (``reader_for_path`` in the datamodule), evaluation (``held_out_from_file``) and
``seqtagger-predict`` (its ``--input-format`` choices and auto-detection) all read this table, so
a format added here is known to all three. A folder is a ``save_to_disk`` dataset; a file whose
suffix is not in the table is read as CoNLL columns by training and evaluation, while predict
first guesses between raw text and CoNLL (``seqtagger.inference.inputs``).

Readers are named, not imported: this module must load without ``datasets`` (about a second),
so that ``seqtagger-predict --help`` and its option errors stay instant.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqtagger.data.readers.base import Reader


@dataclass(frozen=True)
class InputFormat:
    """One input format: the reader class that reads it and the paths that have it."""

    name: str
    reader_path: str  # module.Class of the reader (imported on first use)
    suffixes: tuple[str, ...] = ()  # lower case; the first one names a file of this format
    folder: bool = False  # a folder, not a file
    # Constructor arguments that make the reader read this format whatever the file's suffix
    # (one reader class reads JSON Lines, JSON and Parquet).
    reader_options: tuple[tuple[str, str], ...] = ()

    @property
    def reader(self) -> type[Reader]:
        """The reader class (imports the readers, and with them ``datasets``)."""
        module, _, name = self.reader_path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def make_reader(self, **options: Any) -> Reader:
        """A reader of this format; ``options`` (``tokens_key``, ...) go to its constructor."""
        return self.reader(**{**dict(self.reader_options), **options})


_READERS = "seqtagger.data.readers"


def _records(name: str, *suffixes: str) -> InputFormat:
    """A format of record files: JsonReader told to read the file as ``name``."""
    options = (("file_format", name),)
    return InputFormat(name, f"{_READERS}.records.JsonReader", suffixes, reader_options=options)


FORMATS: dict[str, InputFormat] = {
    f.name: f
    for f in (
        InputFormat("conll", f"{_READERS}.columns.ConllReader", (".conll",)),
        InputFormat("conllu", f"{_READERS}.columns.ConlluReader", (".conllu",)),
        _records("jsonl", ".jsonl", ".ndjson"),
        _records("json", ".json"),
        _records("parquet", ".parquet"),
        InputFormat("disk", f"{_READERS}.dataset.DiskReader", folder=True),
    )
}
DEFAULT_FORMAT = "conll"  # files whose suffix the table does not know


def format_for_path(path: str | Path) -> InputFormat | None:
    """The format of ``path`` by the table (a folder, or its suffix); None when neither tells."""
    p = Path(path)
    if p.is_dir():
        return next(f for f in FORMATS.values() if f.folder)
    suffix = p.suffix.lower()
    return next((f for f in FORMATS.values() if suffix in f.suffixes), None)


def reader_for_path(path: str | Path, **options: Any) -> Reader:
    """The reader for ``path`` by :data:`FORMATS` (CoNLL columns for unknown suffixes);
    ``options`` go to its constructor."""
    fmt = format_for_path(path) or FORMATS[DEFAULT_FORMAT]
    return fmt.make_reader(**options)
