"""``EpochSummary``: progress lines within an epoch, driven by a fake clock (no training), and
the epoch line of a tiny training run."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from seqtagger import callbacks
from seqtagger.callbacks import EpochSummary
from seqtagger.train import train
from tests.helpers import compose_train, tiny_ner_overrides


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_batches(
    summary: EpochSummary, clock: Clock, trainer: SimpleNamespace, seconds: list[float]
) -> None:
    """One epoch's start, then a batch ending after each of ``seconds``."""
    summary.on_train_epoch_start(trainer, None)
    batch = {"lengths": torch.tensor([3, 2])}
    for index, step in enumerate(seconds):
        clock.now += step
        summary.on_train_batch_end(trainer, None, None, batch, index)


def test_a_long_epoch_logs_its_progress_about_once_a_minute(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    trainer = SimpleNamespace(num_training_batches=10, current_epoch=2, max_epochs=8)
    with caplog.at_level("INFO", logger="seqtagger.callbacks"):
        run_batches(EpochSummary(progress_every_s=60), clock, trainer, [30.0] * 10)
    lines = [record.getMessage() for record in caplog.records]
    # batches end at 30 s, 60 s, ..., 300 s: a line at 60, 120, 180, 240 and 300 s
    assert len(lines) == 5
    assert lines[0] == "epoch 3/8: batch 2/10 (20%), 1.0 min in, about 4.0 min left in the epoch"
    assert lines[-1].startswith("epoch 3/8: batch 10/10 (100%), 5.0 min in, about 0.0 min left")


def test_short_epochs_and_progress_off_log_no_progress_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    trainer = SimpleNamespace(num_training_batches=float("inf"), current_epoch=0, max_epochs=1)
    with caplog.at_level("INFO", logger="seqtagger.callbacks"):
        run_batches(EpochSummary(progress_every_s=60), clock, trainer, [5.0] * 11)
        run_batches(EpochSummary(progress_every_s=0), clock, trainer, [100.0] * 3)
        assert not caplog.records
        run_batches(EpochSummary(progress_every_s=60), clock, trainer, [61.0])
    # an iterable loader of unknown length: batches done and time in, no estimate
    assert [r.getMessage() for r in caplog.records] == ["epoch 1/1: batch 1, 1.0 min in"]


def test_the_epoch_line_shows_the_epochs_training_loss_and_accuracy(
    tiny_ner_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each epoch's line holds that epoch's train/loss and train/acc, the values the module
    logs for the epoch (the last epoch's are the run's final train/* metrics)."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=2", "test=false"]
    overrides += ["trainer.limit_train_batches=3", "trainer.limit_val_batches=1"]
    with caplog.at_level("INFO", logger="seqtagger.callbacks"):
        metrics = train(compose_train(overrides, tmp_path))
    lines = [r.getMessage() for r in caplog.records if "train tokens/s" in r.getMessage()]
    assert len(lines) == 2, lines
    shown = dict(re.findall(r"(train/\w+) ([\d.]+)", lines[-1]))
    assert shown == {
        "train/loss": f"{metrics['train/loss']:.4f}",
        "train/acc": f"{metrics['train/acc']:.4f}",
    }
    assert "train/loss" in lines[0] and lines[0] != lines[1]
