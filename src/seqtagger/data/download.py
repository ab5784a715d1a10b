"""Download of the public named corpora (the facts about each corpus are in ``data/corpora.py``).

Why not ``datasets.load_dataset``: the hub copies of these corpora are re-encoded (CoNLL-2003
there is IOB2 with integer tags; dataset scripts no longer run in ``datasets`` >= 4), while we
train and score on the original files. Downloading is plain ``urllib`` (no extra dependency):
it streams to ``<file>.part`` and renames on success, so an interrupted download never leaves a
truncated corpus behind, and a download whose git blob SHA-1 differs from the published one
is rejected.

The data folder comes from the env var ``SEQTAGGER_DATA_DIR`` or the config key
``paths.data_dir``; a corpus lives in ``<data_dir>/<spec.folder>/``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from seqtagger.data.corpora import CORPORA, CorpusSpec
from seqtagger.data.readers import CorpusNotFoundError
from seqtagger.errors import ConfigError

__all__ = [
    "CORPORA",
    "DATA_DIR_ENV",
    "CorpusSpec",
    "default_data_dir",
    "download_file",
    "ensure_corpus",
    "git_blob_sha1",
]

log = logging.getLogger(__name__)

DATA_DIR_ENV = "SEQTAGGER_DATA_DIR"
_TIMEOUT_S = 30
_CHUNK = 1 << 16


def default_data_dir() -> Path:
    """``$SEQTAGGER_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data")


def git_blob_sha1(path: Path) -> str:
    """SHA-1 of a file the way git names it as a blob (``sha1(b"blob <size>\\0" + bytes)``)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _missing_message(spec: CorpusSpec, data_dir: Path, missing: dict[str, Path]) -> str:
    lines = [f"Corpus {spec.name!r} not found: missing file(s)"]
    lines += [f"  {split}: {path}" for split, path in missing.items()]
    lines += [
        f"Data folder: {data_dir.resolve()} (set it with the env var {DATA_DIR_ENV} or the "
        "config key paths.data_dir).",
        f"How to get the files: {spec.instructions}",
        f"License: {spec.license}.",
    ]
    return "\n".join(lines)


def ensure_corpus(
    name: str, data_dir: str | Path | None = None, download: bool = True
) -> dict[str, Path]:
    """Paths of the corpus files per split; downloads missing ones when the corpus has URLs.

    ``data_dir=None`` uses :func:`default_data_dir`. Raises :class:`CorpusNotFoundError`
    naming the expected paths and how to get the files when any is missing.
    """
    if name not in CORPORA:
        raise ConfigError(f"unknown corpus {name!r} (expected one of {sorted(CORPORA)})")
    spec = CORPORA[name]
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    folder = root / spec.folder
    paths = {split: folder / file for split, file in spec.files.items()}
    missing = {split: path for split, path in paths.items() if not path.is_file()}
    if not missing:
        return paths
    if not download or not spec.urls:
        raise CorpusNotFoundError(_missing_message(spec, root, missing))
    folder.mkdir(parents=True, exist_ok=True)
    for split, path in missing.items():
        try:
            download_file(spec.urls[split], path)
        except CorpusNotFoundError as err:
            raise CorpusNotFoundError(f"{err}\n{_missing_message(spec, root, missing)}") from err
        expected = (spec.blob_sha1 or {}).get(split)
        if expected and (actual := git_blob_sha1(path)) != expected:
            path.unlink()
            raise CorpusNotFoundError(
                f"{spec.urls[split]}: downloaded file has git blob SHA-1 {actual}, expected "
                f"{expected} (deleted it; the release may have changed)\n"
                + _missing_message(spec, root, missing)
            )
    return paths


def download_file(url: str, dest: Path, *, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` via ``<dest>.part``; log progress every 10% when asked.

    Network failures (offline, refused, HTTP error, timeout, truncated body) raise
    :class:`CorpusNotFoundError` saying where to put the file by hand.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")  # with_suffix would clash for a.txt/a.conllu
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, part.open("wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            done, next_report = 0, 10
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                done += len(chunk)
                if progress and total and done * 100 >= next_report * total:
                    log.info("%s: %d%% of %.1f MB", dest.name, done * 100 // total, total / 1e6)
                    next_report = (done * 100 // total) // 10 * 10 + 10
            if total and done != total:
                raise http.client.IncompleteRead(b"", total - done)
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise CorpusNotFoundError(
            f"could not download {url} ({reason}); download it by hand and save it as {dest}"
        ) from err
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    if progress:
        log.info("downloaded %s -> %s", url, dest)
    return dest
