"""A vector store's word index (``*index.parquet``), read once per version of the file.

Reading the Parquet index needs ``pyarrow`` (its import and the read are a large share of a
prediction command's start-up, for 400,000 words) although the list never changes. So the words
are also kept as JSON in the user's cache folder (``utils/checksums.py``'s ``cache_dir``), under
a name made of the index file's resolved path, size and change times: a rewritten index is read
again. A cache that cannot be read or written is ignored (the Parquet file is then read each
time); an unreadable index is an ``OSError`` or a ``ValueError``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from seqtagger.utils.checksums import cache_dir

__all__ = ["read_words"]

FOLDER = "word_index"


def read_words(index_path: Path) -> list[str]:
    """The words of a store's Parquet index, row by row (from the cache when it is current)."""
    cached = _cache_file(index_path)
    with contextlib.suppress(OSError, ValueError):
        words = json.loads(cached.read_text(encoding="utf-8"))
        if isinstance(words, list):
            return words
    words = _read_parquet(index_path)
    _write(cached, words)
    return words


def _read_parquet(index_path: Path) -> list[str]:
    """The first column of the Parquet file; any Arrow error becomes a ``ValueError``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return [str(word) for word in pq.read_table(index_path).column(0).to_pylist()]
    except pa.ArrowException as error:
        if isinstance(error, OSError | ValueError):
            raise
        raise ValueError(str(error)) from error


def _cache_file(index_path: Path) -> Path:
    stat = index_path.stat()
    key = f"{index_path.resolve()}\n{stat.st_size}\n{stat.st_mtime_ns}\n{stat.st_ctime_ns}"
    return cache_dir() / FOLDER / f"{hashlib.sha1(key.encode()).hexdigest()}.json"


def _write(path: Path, words: list[str]) -> None:
    """Write the cache whole (a reader never sees half of it); skipped when unwritable."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with open(fd, "w", encoding="utf-8") as file:
                json.dump(words, file, ensure_ascii=False)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
