"""The benchmarks run end to end on tiny settings and write their JSON (never a speed: the
numbers they print are checked for shape and sign only), imported as the package they are."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

from benchmarks import __main__ as command
from benchmarks import ab, benchmark, scaling
from benchmarks.corpus import write_synthetic
from benchmarks.parts import plain_loss

TINY_MODEL = ["model.encoder.hidden_size=16", "model.embedding.word_dim=16"]
TINY_MODEL += ["model.embedding.char_dim=8", "model.embedding.char_filters=8"]
ROW_KEYS = {"setting", "device", "precision", "batch_size", "part", "measure", "unit"}
ROW_KEYS |= {"a", "b", "ratio", "a_samples", "b_samples"}


def positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def tiny_argv(out: Path) -> list[str]:
    """``python -m benchmarks train`` arguments for a few batches of a tiny generated corpus."""
    argv = ["--corpus", "synthetic", "--synthetic-sentences", "120", "--batch-sizes", "8"]
    argv += ["--settings", "bilstm", "--device", "cpu", "--batches", "2", "--warmup", "1"]
    argv += ["--val-batches", "1", "--repeats", "1", "--loss-reps", "1", "--out", str(out)]
    return [*argv, *TINY_MODEL]


def test_benchmark_times_every_part_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    benchmark.main([*tiny_argv(out), "--settings", "bilstm", "absent:model=no_such_model"])
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


def test_the_plain_loop_trains_each_head_on_its_own_loss() -> None:
    """A CRF head subclasses the linear head: its plain loop must still time the CRF likelihood,
    not the linear head's cross-entropy (which once made the CRF's framework path look 12%
    slower against it than it is)."""
    import torch

    from seqtagger.models.crf import CRFHead
    from seqtagger.models.heads import LinearHead

    torch.manual_seed(0)
    labels = ["O", "B-X", "I-X"]
    logits = torch.randn(2, 4, 3)  # (N, L, C)
    batch = {"tag_ids": torch.tensor([[0, 1, 2, 0], [1, 0, -100, -100]])}
    batch["mask"] = batch["tag_ids"] != -100
    crf = CRFHead(4, 3, labels=labels, scheme="iob2")
    torch.nn.init.normal_(crf.transitions)
    expected_crf = crf.loss(logits, batch["tag_ids"], batch["mask"])
    assert torch.equal(plain_loss(crf, logits, batch), expected_crf)
    linear = LinearHead(4, 3, labels=labels, scheme="iob2")
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 1), batch["tag_ids"])
    assert torch.allclose(plain_loss(linear, logits, batch), expected)


def test_bench_ab_alternates_two_override_lists_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "ab.json"
    argv = ["--corpus", "synthetic", "--synthetic-sentences", "120", "--batch-size", "8"]
    argv += ["--b", "+model.optimizer.fused=false", "--batches", "2", "--warmup", "1"]
    argv += ["--val-batches", "1", "--repeats", "2", "--out", str(out), *TINY_MODEL]
    ab.main(argv)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["b"]["overrides"] == ["+model.optimizer.fused=false"]
    for side in ("a", "b"):
        assert len(report[side]["train_tokens_per_s"]) == 2
        assert all(map(positive, report[side]["train_tokens_per_s"]))
    assert positive(report["a_over_b"])


@pytest.mark.slow
def test_scaling_writes_a_line_per_scale(tmp_path: Path) -> None:
    """Two tiny scales of a generated base: six child processes (about a minute)."""
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


def test_predict_runs_the_prediction_part_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m benchmarks predict`` is ``train --parts predict``: prediction rows only, no
    training, data or loss rows, and its command line is recorded as given."""
    monkeypatch.setattr(sys, "argv", ["python -m benchmarks"])  # the command line, restored
    out = tmp_path / "predict.json"
    assert command.main(["predict", *tiny_argv(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {r["part"] for r in report["rows"]} == {"predict"}
    assert all(positive(r["a"]) and positive(r["b"]) for r in report["rows"])
    assert report["meta"]["argv"][:3] == ["python -m benchmarks predict", "--parts", "predict"]
    assert "predict tokens/s" in capsys.readouterr().out


def test_parts_runs_the_named_parts_and_corpus_writes_a_corpus_to_train_on(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``parts data loss`` times those two parts alone; ``corpus OUT`` writes the three splits
    of a generated corpus and prints the ``seqtagger-train`` overrides that read them."""
    monkeypatch.setattr(sys, "argv", ["python -m benchmarks"])
    out = tmp_path / "parts.json"
    assert command.main(["parts", "data", "loss", *tiny_argv(out)]) == 0
    assert {r["part"] for r in json.loads(out.read_text(encoding="utf-8"))["rows"]} == {
        "data",
        "loss",
    }
    capsys.readouterr()
    assert command.main(["corpus", str(tmp_path / "corpus"), "--sentences", "40"]) == 0
    train = (tmp_path / "corpus" / "train.conllu").read_text(encoding="utf-8")
    assert train.count("\n\n") == 40
    printed = capsys.readouterr().out
    assert printed.startswith("seqtagger-train data=files") and str(tmp_path / "corpus") in printed


def test_an_unknown_benchmark_is_refused_with_the_names(capsys: pytest.CaptureFixture) -> None:
    assert command.main(["nope"]) == 2
    error = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in error
    assert all(name in error for name in command.COMMANDS)


def test_every_benchmark_module_imports_as_part_of_the_package() -> None:
    """Each name of ``python -m benchmarks`` is a module of the package with a ``main(argv)``
    (flair only where flair is installed: it runs in flair's own environment)."""
    for name, (module, _, _) in command.COMMANDS.items():
        if name == "flair" and importlib.util.find_spec("flair") is None:
            continue
        assert callable(importlib.import_module(f"benchmarks.{module}").main), name


def test_benchmarks_and_tools_are_imported_as_packages_not_by_path() -> None:
    """No test loads a module from a file path, and no benchmark or tool edits ``sys.path``:
    ``benchmarks`` and ``tools`` import each other as the packages they are."""
    root = Path(__file__).resolve().parents[1]
    by_path = ["spec_from_file_" + "location", "run_" + "path("]
    path_edits = ["sys.path." + "insert", "sys.path." + "append", "sys.path" + " ="]
    patterns = {"tests": by_path, "benchmarks": by_path + path_edits, "tools": by_path + path_edits}
    offenders = [
        str(file.relative_to(root))
        for folder, forbidden in patterns.items()
        for file in sorted((root / folder).rglob("*.py"))
        if any(pattern in file.read_text(encoding="utf-8") for pattern in forbidden)
    ]
    assert offenders == []
