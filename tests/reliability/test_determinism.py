"""Two CPU runs with the same seed give identical metrics and identical weights; the per-step
reseeding behind it."""

from __future__ import annotations

import traceback
from pathlib import Path

import torch

from seqtagger.callbacks import seed_generators
from seqtagger.checkpoint import load_checkpoint
from seqtagger.train import train
from tests.helpers import compose_train, tiny_ner_overrides


def test_same_seed_gives_identical_metrics_and_weights(tiny_ner_dir: Path, tmp_path: Path) -> None:
    base = [*tiny_ner_overrides(tiny_ner_dir), "seed=7", "trainer.max_epochs=1"]
    first = train(compose_train(base, tmp_path / "first"))
    second = train(compose_train(base, tmp_path / "second"))

    assert first.keys() == second.keys()
    assert {"test/f1", "test/loss", "test/acc"} <= first.keys()
    for name, value in first.items():
        assert second[name] == value, name  # bit-exact, not approximately equal
    weights = [
        load_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"]
        for run in (tmp_path / "first", tmp_path / "second")
    ]
    assert weights[0].keys() == weights[1].keys()
    for key, weight in weights[0].items():
        assert torch.equal(weights[1][key], weight), key


def test_step_seeding_equals_torch_manual_seed_without_its_stack_traces(monkeypatch) -> None:
    """``StepSeed`` reseeds before every step: the same CPU stream as ``torch.manual_seed``, but
    without queueing a seed (and formatting a stack trace) for each uninitialised accelerator
    backend, which cost about 2 ms a step on the CPU."""
    torch.manual_seed(11)
    expected = torch.rand(4)

    def no_stack(*args, **kwargs):
        raise AssertionError("a stack trace was formatted")

    monkeypatch.setattr(traceback, "format_stack", no_stack)
    seed_generators(11)
    assert torch.equal(torch.rand(4), expected)
