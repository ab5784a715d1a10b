"""``AtomicCheckpointIO``: Lightning's checkpoint writer, made atomic (temporary file, rename).

Apart from ``seqtagger.checkpoint`` (what a checkpoint holds, loading it) because it subclasses
Lightning's writer, and loading a checkpoint to predict must not import Lightning.
"""

from __future__ import annotations

import contextlib
import glob
import io
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from seqtagger.utils.files import file_mode

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file beside it, then rename it into place.

    A rename within a folder is atomic, so a ``kill -9`` (or a full disk, a preemption) in the
    middle of a write leaves the previous ``last.ckpt`` whole, and ``ckpt_path=auto`` resumes
    from it; Lightning's own writer truncates the file first. The data is flushed to disk
    (``fsync``) before the rename, so a power cut cannot leave a renamed but empty file either.
    A half-written ``.<name>.*.tmp`` stays behind after a kill; it is never read, and the next
    write of ``<name>`` removes it (any such file last touched over ``STALE_S`` seconds before
    that write began: no live writer of the same file pauses that long). Remote paths
    (``s3://``) go through Lightning's writer unchanged.
    """

    STALE_S = 60.0

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        if "://" in str(path) or storage_options is not None:
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        fd, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        try:
            os.chmod(fd, file_mode(target))
            with open(fd, "wb") as file:
                self.write_bytes(file, buffer.getbuffer(), target)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._remove_stale(target, started)

    def _remove_stale(self, target: Path, started: float) -> None:
        """Remove what killed writes of ``target`` left (``.<name>.*.tmp``, untouched since
        ``STALE_S`` seconds before ``started``)."""
        for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            with contextlib.suppress(OSError):  # gone already, or not ours to remove
                if leftover.stat().st_mtime < started - self.STALE_S:
                    leftover.unlink()

    def write_bytes(self, file: IO[bytes], data: memoryview, target: Path) -> None:
        """Write the serialised checkpoint (a hook: tests slow it down to kill mid-write)."""
        file.write(data)
