"""Two CPU runs with the same seed give identical metrics and identical weights."""

from __future__ import annotations

from pathlib import Path

import torch

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
