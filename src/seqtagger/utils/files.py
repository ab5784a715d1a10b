"""File modes for files written through a temporary file and renamed into place."""

from __future__ import annotations

import os
from pathlib import Path


def file_mode(path: Path) -> int:
    """The mode ``path`` has, or the one a new file gets (0666 less the umask): ``mkstemp``
    makes its file private (0600), which a renamed output or checkpoint must not inherit."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
