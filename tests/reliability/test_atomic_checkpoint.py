"""A checkpoint write that stops half-way leaves the previous checkpoint whole (fast check; the
``kill -9`` test is in ``test_kill.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqtagger.checkpoint import AtomicCheckpointIO


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
