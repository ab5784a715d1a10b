"""``kill -9`` at any point of a training run, a checkpoint write included, loses nothing: the
checkpoints on disk always load, and ``ckpt_path=auto`` finishes the run with the same metrics
and weights as a run that was never killed (same seed, CPU)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import torch

from seqtagger.checkpoint import load_checkpoint
from tests.helpers import run_module, start_module, tiny_ner_overrides, wait_for

pytestmark = pytest.mark.slow  # four training processes, two of them killed


def _args(tiny_dir: Path, run: Path, *extra: str) -> list[str]:
    args = [*tiny_ner_overrides(tiny_dir), "trainer=cpu", "logger=csv", "seed=5"]
    args += ["trainer.max_epochs=4", "callbacks.early_stopping=null", "ckpt_path=auto"]
    return [*args, "+trainer.enable_progress_bar=false", f"hydra.run.dir={run}", *extra]


def _kill(process, log: Path) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL, log.read_text(encoding="utf-8")[-3000:]


def test_kill_9_mid_write_and_mid_epoch_then_resume_matches_uninterrupted(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    straight = tmp_path / "straight"
    done = run_module("seqtagger.train", _args(tiny_ner_dir, straight), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    run, log = tmp_path / "killed", tmp_path / "killed.log"
    last = run / "checkpoints" / "last.ckpt"
    slow = [
        "+callbacks.throttle._target_=tests.helpers.Throttle",
        "+callbacks.throttle.seconds=0.1",
        "trainer.plugins=[{_target_:tests.helpers.SlowCheckpointIO,seconds:2}]",
    ]

    # 1. in the middle of rewriting last.ckpt (the second epoch's): half of it is on disk
    process = start_module("seqtagger.train", _args(tiny_ner_dir, run, *slow), tmp_path, log)
    writing = last.with_name("last.ckpt.writing")
    wait_for(lambda: last.is_file() and writing.is_file(), process, timeout=300)
    _kill(process, log)
    assert list(last.parent.glob(".last.ckpt.*.tmp")), "the kill came after the write"
    assert load_checkpoint(last)["epoch"] == 0  # the previous one, whole

    # 2. in the middle of an epoch after resuming: the epoch is trained again, once
    process = start_module("seqtagger.train", _args(tiny_ner_dir, run, *slow), tmp_path, log)
    saved = last.stat().st_mtime_ns
    wait_for(lambda: last.stat().st_mtime_ns != saved and not writing.exists(), process, 300)
    time.sleep(0.8)  # into the next epoch's training batches (0.1 s each)
    _kill(process, log)
    assert load_checkpoint(last)["epoch"] == 1

    # 3. to the end
    finish = run_module("seqtagger.train", _args(tiny_ner_dir, run), tmp_path)
    assert finish.returncode == 0, finish.stderr[-3000:]
    assert "Resuming from" in finish.stdout + finish.stderr

    expected = json.loads((straight / "metrics.json").read_text(encoding="utf-8"))
    resumed = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert resumed.keys() == expected.keys() and "test/f1" in expected
    for name, value in expected.items():
        assert resumed[name] == pytest.approx(value, abs=1e-6), name
    weights = load_checkpoint(straight / "checkpoints" / "last.ckpt")
    final = load_checkpoint(last)
    assert final["epoch"] == weights["epoch"] == 3
    for key, weight in weights["state_dict"].items():
        torch.testing.assert_close(final["state_dict"][key], weight, msg=key)
