"""The benchmark scripts run end to end on tiny settings and write their JSON (never a speed:
the numbers they print are checked for shape and sign only)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

TINY_MODEL = ["model.encoder.hidden_size=16", "model.embedding.word_dim=16"]
TINY_MODEL += ["model.embedding.char_dim=8", "model.embedding.char_filters=8"]
ROW_KEYS = {"setting", "device", "precision", "batch_size", "part", "measure", "unit"}
ROW_KEYS |= {"a", "b", "ratio", "a_samples", "b_samples"}


@pytest.fixture
def scripts(monkeypatch: pytest.MonkeyPatch) -> Path:
    """``scripts/`` importable, as when a script runs (Python puts its folder first)."""
    folder = REPO_ROOT / "scripts"
    monkeypatch.syspath_prepend(str(folder))
    return folder


def positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def test_benchmark_times_every_part_and_writes_json(scripts: Path, tmp_path: Path) -> None:
    import benchmark

    out = tmp_path / "results.json"
    argv = ["--corpus", "synthetic", "--synthetic-sentences", "120", "--batch-sizes", "8"]
    argv += ["--settings", "bilstm", "absent:model=no_such_model", "--device", "cpu"]
    argv += ["--batches", "2", "--warmup", "1", "--val-batches", "1", "--repeats", "1"]
    argv += ["--loss-reps", "1", "--out", str(out), *TINY_MODEL]
    benchmark.main(argv)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {"meta", "settings", "rows", "skipped", "devices"} <= set(report)
    assert report["devices"] == ["cpu"] and report["meta"]["repeats"] == 1
    assert [s["setting"] for s in report["skipped"]] == ["absent"]
    assert "model/no_such_model" in report["skipped"][0]["reason"]
    rows = report["rows"]
    assert {r["part"] for r in rows} == {"data", "train", "epoch", "fit", "predict", "loss"}
    for r in rows:
        assert set(r) == ROW_KEYS and r["setting"] == "bilstm", r
        assert positive(r["b"]) and (r["part"] == "fit" or positive(r["ratio"])), r
    classes = [r["measure"] for r in rows if r["part"] == "loss"]
    assert len(classes) == 2 and "C=32,000" in classes[1]


def test_the_plain_loop_trains_each_head_on_its_own_loss(scripts: Path) -> None:
    """A CRF head subclasses the linear head: its plain loop must still time the CRF likelihood,
    not the linear head's cross-entropy (which once made the CRF's framework path look 12%
    slower against it than it is)."""
    import torch
    from bench_parts import plain_loss

    from seqtagger.models.crf import CRFHead
    from seqtagger.models.heads import LinearHead

    torch.manual_seed(0)
    labels = ["O", "B-X", "I-X"]
    logits = torch.randn(2, 4, 3)  # (N, L, C)
    batch = {"tag_ids": torch.tensor([[0, 1, 2, 0], [1, 0, -100, -100]])}
    batch["mask"] = batch["tag_ids"] != -100
    crf = CRFHead(4, 3, labels=labels, scheme="iob2")
    torch.nn.init.normal_(crf.transitions)
    assert torch.equal(plain_loss(crf, logits, batch), crf.loss(logits, batch))
    linear = LinearHead(4, 3, labels=labels, scheme="iob2")
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 1), batch["tag_ids"])
    assert torch.allclose(plain_loss(linear, logits, batch), expected)


def test_bench_ab_alternates_two_override_lists_and_writes_json(
    scripts: Path, tmp_path: Path
) -> None:
    import bench_ab

    out = tmp_path / "ab.json"
    argv = ["--corpus", "synthetic", "--synthetic-sentences", "120", "--batch-size", "8"]
    argv += ["--b", "+model.optimizer.fused=false", "--batches", "2", "--warmup", "1"]
    argv += ["--val-batches", "1", "--repeats", "2", "--out", str(out), *TINY_MODEL]
    bench_ab.main(argv)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["b"]["overrides"] == ["+model.optimizer.fused=false"]
    for side in ("a", "b"):
        assert len(report[side]["train_tokens_per_s"]) == 2
        assert all(map(positive, report[side]["train_tokens_per_s"]))
    assert positive(report["a_over_b"])


@pytest.mark.slow
def test_scaling_writes_a_line_per_scale(scripts: Path, tmp_path: Path) -> None:
    """Two tiny scales of a generated base: six child processes (about a minute)."""
    import scaling
    from bench_corpus import write_synthetic

    base = write_synthetic(tmp_path / "base", train=100)
    out = tmp_path / "scaling.json"
    argv = ["--base", str(base), "--scales", "1", "2", "--max-batches", "2", "--val-batches", "1"]
    argv += ["--workdir", str(tmp_path / "work"), "--out", str(out), "trainer.accelerator=cpu"]
    scaling.main([*argv, *TINY_MODEL])
    report = json.loads(out.read_text(encoding="utf-8"))
    one, two = report["results"]
    assert (one["scale"], two["scale"]) == (1, 2)
    assert two["train_tokens"] == 2 * one["train_tokens"]
    for result in (one, two):
        assert positive(result["data"]["cold"]["seconds"])
        assert positive(result["data"]["warm"]["max_rss_mb"])
        assert positive(result["train"]["train_tokens_per_s"])
        assert result["train"]["limit_train_batches"] == 2
    assert report["notes"]
