"""A checkpoint write that stops half-way leaves the previous checkpoint whole (fast check; the
``kill -9`` test is in ``test_kill.py``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from seqtagger.training.checkpoint_io import AtomicCheckpointIO


class FailsHalfWay(AtomicCheckpointIO):
    def write_bytes(self, file, data: memoryview, target: Path) -> None:
        file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")


def test_failed_write_keeps_the_previous_checkpoint_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.ones(1000)}, path)
    path.chmod(0o640)

    with pytest.raises(OSError, match="No space left"):
        FailsHalfWay().save_checkpoint({"step": 2, "w": torch.zeros(1000)}, path)

    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    AtomicCheckpointIO().save_checkpoint({"step": 3}, path)
    assert torch.load(path, weights_only=True) == {"step": 3}
    assert path.stat().st_mode & 0o777 == 0o640  # a rewrite keeps the file's mode


def test_next_write_removes_what_a_killed_write_left(tmp_path: Path) -> None:
    """A kill mid-write leaves ``.last.ckpt.*.tmp``; the next save of ``last.ckpt`` removes it
    once it is stale, and leaves a fresh one (a writer still at work) and other files alone."""
    stale, fresh = tmp_path / ".last.ckpt.dead.tmp", tmp_path / ".last.ckpt.busy.tmp"
    other = tmp_path / ".epoch_001.ckpt.dead.tmp"
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    AtomicCheckpointIO().save_checkpoint({"step": 1}, tmp_path / "last.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".epoch_001.ckpt.dead.tmp", ".last.ckpt.busy.tmp", "last.ckpt"]
    )
