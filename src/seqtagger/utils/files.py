"""File modes for files written through a temporary file and renamed into place, and that
writing itself."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def file_mode(path: Path) -> int:
    """The mode ``path`` has, or the one a new file gets (0666 less the umask): ``mkstemp``
    makes its file private (0600), which a renamed output or checkpoint must not inherit."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def replace_file(path: str | os.PathLike[str], data: bytes | memoryview) -> Path:
    """Write ``data`` to a temporary file beside ``path`` (flushed to disk), then rename it into
    place: a reader never meets a half-written file, and a failed write leaves the old one. A
    link keeps being a link: the file it names is replaced. The file keeps its mode (a new one
    gets the umask's). Returns the file written."""
    target = Path(os.path.realpath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(fd, file_mode(target))
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
