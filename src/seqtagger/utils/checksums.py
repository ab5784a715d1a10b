"""Checksums of large files, computed once per version of the files and kept in the user's cache.

A vector store's checksum covers every value it holds (GloVe 6B 50-d: 80 MB to read), so it is
remembered in ``checksums.json`` in the user's cache folder (:func:`cache_dir`), never beside the
files, which may be read-only (site-packages). An entry holds the files' resolved paths with
their sizes and change times: a file written since is hashed again. The cache also says where
files of a given checksum were last seen (:func:`known_files`), so a store that moved is found
again. A cache that cannot be read or written is ignored: the files are then hashed each time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CACHE_FILE", "cache_dir", "files_checksum", "known_files"]

CACHE_FILE = "checksums.json"
PREFIX = "sha256:"


def cache_dir() -> Path:
    """``SEQTAGGER_CACHE_DIR``, else ``$XDG_CACHE_HOME/seqtagger``, else ``~/.cache/seqtagger``."""
    configured = os.environ.get("SEQTAGGER_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqtagger"


def _stamps(paths: Sequence[Path]) -> list[list[int]]:
    """Size, modification and change time of each file: a rewrite changes the last two."""
    stats = [path.stat() for path in paths]
    return [[stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns] for stat in stats]


def _read_cache() -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        entries = json.loads((cache_dir() / CACHE_FILE).read_text())
        if isinstance(entries, dict):
            return entries
    return {}


def _write_cache(entries: dict[str, Any]) -> None:
    """Replace the cache file whole (a reader never sees half of it); skipped when unwritable."""
    folder = cache_dir()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{CACHE_FILE}.", suffix=".tmp", dir=folder)
        try:
            with open(fd, "w") as file:
                json.dump(entries, file)
            os.replace(temporary, folder / CACHE_FILE)
        finally:
            Path(temporary).unlink(missing_ok=True)


def files_checksum(paths: Sequence[Path]) -> str:
    """``sha256:<hex>`` of the files' bytes in order; from the cache when none changed."""
    paths = [Path(path).resolve() for path in paths]
    key = "\n".join(map(str, paths))
    stamps = _stamps(paths)  # before reading: a write during the hash makes the entry stale
    entries = _read_cache()
    entry = entries.get(key)
    if isinstance(entry, dict) and entry.get("stamps") == stamps:
        return str(entry["checksum"])
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
    checksum = PREFIX + digest.hexdigest()
    entries[key] = {"stamps": stamps, "checksum": checksum}
    _write_cache(entries)
    return checksum


def known_files(checksum: str) -> list[list[Path]]:
    """The files of every cached entry with ``checksum`` that are still as they were hashed."""
    found = []
    for key, entry in _read_cache().items():
        if not isinstance(entry, dict) or entry.get("checksum") != checksum:
            continue
        paths = [Path(path) for path in key.split("\n")]
        with contextlib.suppress(OSError):
            if _stamps(paths) == entry.get("stamps"):
                found.append(paths)
    return found
