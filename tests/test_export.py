"""``seqtagger-export`` and the onnxruntime backend on a word + character CNN BiLSTM-CRF: the
graph decodes as PyTorch does at other batch sizes and lengths, ``OnnxPredictor`` and
``seqtagger-predict --backend onnx`` give the PyTorch path's outputs, the sidecar says what the
graph needs, and the graph runs without torch. Commands as ``docs/export.md`` shows them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from seqtagger.export.cli import main as export_main
from seqtagger.export.pruning import outputs_only, read_graph
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.export.session import OnnxTagger
from seqtagger.export.sidecar import OPTIMIZATION_LEVEL, read_sidecar, sidecar_path
from tests.exports import (
    assert_parity,
    assert_predicts_as_pytorch,
    export_tiny,
    sentences,
)
from tests.helpers import REPO_ROOT, checkout_env, tiny_ner_overrides
from tests.predict_cli import cli, jsonl


@pytest.fixture(scope="module")
def bilstm_crf(tiny_ner_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """``(module, graph)``: word + character CNN, two BiLSTM layers, a CRF; exported."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model/head=crf", "model.encoder.num_layers=2"]
    return export_tiny(overrides, tmp_path_factory.mktemp("bilstm_crf"))


def test_the_graph_decodes_as_pytorch_at_other_batch_sizes_and_lengths(bilstm_crf) -> None:
    assert_parity(*bilstm_crf)


def test_the_onnx_predictor_gives_the_pytorch_predictors_outputs(bilstm_crf) -> None:
    assert_predicts_as_pytorch(*bilstm_crf, sentences(40, seed=1))


def test_the_sidecar_names_what_the_graph_reads_and_the_axes_stay_dynamic(bilstm_crf) -> None:
    module, path = bilstm_crf
    sidecar = read_sidecar(path)
    assert sidecar["inputs"] == ["token_ids", "char_ids", "mask", "temperature"]
    assert sidecar["outputs"] == {
        "tags": {kind: f"tags.{kind}" for kind in ("tag_ids", "probabilities", "logits")}
    }
    assert sidecar["onnxruntime"]["graph_optimization_level"] == OPTIMIZATION_LEVEL
    assert sidecar["char_width"] == module.max_word_length == 20
    assert sidecar["vocabs"]["words"] == module.data_info["vocabs"]["words"]
    assert [task["name"] for task in sidecar["tasks"]] == ["tags"]
    assert sidecar["model"]["parameters"] == sum(p.numel() for p in module.tagger.parameters())
    graph = onnx.load(str(path))
    assert sidecar["opset"] == graph.opset_import[0].version >= 18
    axes = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in graph.graph.input
    }
    batch, length = axes["token_ids"]
    assert isinstance(batch, str) and isinstance(length, str) and axes["char_ids"][2] == 20
    assert {node.op_type for node in graph.graph.node} >= {"LSTM", "Scan"}
    assert sidecar_path(path).name == "model.onnx.json"


def test_a_run_for_the_tags_runs_the_graph_cut_to_them(bilstm_crf) -> None:
    """onnxruntime runs every node of a graph whatever outputs a run asks for: the session for
    the tags holds neither the CRF's forward-backward scans nor the temperature, and tags as
    the whole graph does."""
    path = bilstm_crf[1]
    tags = "tags.tag_ids"
    whole, cut = read_graph(path), outputs_only(read_graph(path), [tags])
    scans = [sum(n.op_type == "Scan" for n in g.graph.node) for g in (whole, cut)]
    assert scans == [4, 2]  # Viterbi's two; the marginals' two more
    assert [o.name for o in cut.graph.output] == [tags]
    assert "temperature" not in [i.name for i in cut.graph.input]
    tagger = OnnxTagger(path, threads=1)
    batch = sentences(12, seed=3)
    cut_ids = tagger.tag_ids(batch)["tags"]
    whole_ids = tagger.run(batch)[tags].tolist()  # every output: the whole graph's session
    assert cut_ids == [ids[: len(tokens)] for ids, tokens in zip(whole_ids, batch, strict=True)]
    assert set(tagger._sessions) == {(tags,), tuple(sorted(tagger.outputs))}
    for session, _ in tagger._sessions.values():  # a session's idle threads leave the cores
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


HIDE_TORCH = """
import json, sys

class WithoutTorch:
    '''A meta path finder that finds no torch, as where torch is not installed.'''

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            return None
        find = getattr(self.finder, "find_spec", None)
        return find(name, path, target) if find else None

    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()

sys.meta_path[:] = [WithoutTorch(finder) for finder in sys.meta_path]
try:
    import torch
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("torch was found")

from seqtagger.export.session import OnnxTagger

tagger = OnnxTagger(sys.argv[1], threads=1)
print(json.dumps(tagger.tag_ids(json.loads(sys.argv[2]))))
assert not [name for name in sys.modules if name.split(".")[0] in ("torch", "lightning")]
"""


def test_the_graph_and_its_featurizer_run_without_torch(bilstm_crf) -> None:
    path = bilstm_crf[1]
    batch = sentences(6, seed=2)
    process = subprocess.run(
        [sys.executable, "-c", HIDE_TORCH, str(path), json.dumps(batch)],
        capture_output=True,
        text=True,
        env=checkout_env(),
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    found = json.loads(process.stdout)["tags"]
    assert found == OnnxPredictor(path, threads=1).predict_batch_ids(batch)


def test_seqtagger_export_and_predict_with_the_onnx_backend(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "model.onnx"
    assert export_main([str(tiny_checkpoint), "-o", str(model)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {model}" in err and f"wrote {sidecar_path(model)}" in err
    assert "parity with PyTorch: 100.00% of" in err
    text = tmp_path / "notes.txt"
    text.write_text("Anna Smith visited Oslo. She met the Red Cross.\nEU rejects it.\n")
    for options in (["--format", "conll"], ["--format", "jsonl"]):
        code, expected, _ = cli(capsys, "--ckpt", tiny_checkpoint, text, *options)
        assert code == 0
        code, found, _ = cli(capsys, "--backend", "onnx", "--ckpt", model, text, *options)
        assert code == 0 and found == expected
    scored = ["--format", "jsonl", "--scores"]
    expected = jsonl(cli(capsys, "--ckpt", tiny_checkpoint, text, *scored)[1])
    found = jsonl(cli(capsys, "--backend", "onnx", "--ckpt", model, text, *scored)[1])
    assert [r["tags"] for r in found] == [r["tags"] for r in expected]
    for got, want in zip(found, expected, strict=True):
        assert got["scores"] == pytest.approx(want["scores"], abs=2e-4)


def test_bad_exports_and_onnx_options_are_refused_in_one_line(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    assert export_main([str(tmp_path / "nope.ckpt"), "-o", str(tmp_path / "m.onnx")]) == 2
    assert "nope.ckpt: no such checkpoint file" in capsys.readouterr().err
    missing = tmp_path / "missing" / "m.onnx"
    assert export_main([str(tiny_checkpoint), "-o", str(missing)]) == 2
    assert f"-o {missing}: expected a file name in an existing folder" in capsys.readouterr().err
    assert not missing.parent.exists()
    text = tmp_path / "notes.txt"
    text.write_text("Anna visited Oslo.\n")
    code, _, err = cli(capsys, "--backend", "onnx", "--ckpt", tmp_path / "m.onnx", text)
    assert code == 2 and "m.onnx: no such ONNX model file" in err
    args = ["--backend", "onnx", "--ckpt", tmp_path / "m.onnx", "--vectors", tmp_path, text]
    code, _, err = cli(capsys, *args)
    assert code == 2 and "--vectors: --backend onnx runs the exported graph" in err


def test_the_export_benchmark_times_three_backends_on_the_same_sentences(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """``python -m benchmarks export`` runs (timings are recorded, never asserted)."""
    import torch

    from benchmarks.export import main as benchmark

    out = tmp_path / "export.json"
    threads = torch.get_num_threads()
    args = ["--ckpt", str(tiny_checkpoint), "--corpus", str(tiny_ner_dir / "test.txt")]
    args += ["--sentences", "6", "--threads", "1", "--repeats", "1", "--out", str(out)]
    args += ["--profile"]
    try:
        benchmark(args)
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    assert [row["backend"] for row in report["rows"]] == ["torch", "onnx_fp32", "onnx_int8"]
    for row in report["rows"]:
        assert 0 < row["path_b1_p50_ms"] <= row["path_b1_p99_ms"]
        assert row["model_b64_tokens_per_s"] > 0 and row["threads"] == 1
    assert report["agreement_with_torch"]["onnx_fp32"] == 1.0
    assert report["bytes"]["onnx_int8"] < report["bytes"]["onnx_fp32"]
    assert report["sentences"] == 6 and report["conditions"] == "not stated"
    assert set(report["ratios"]["1"]) == {"onnx_fp32", "onnx_int8"}
    assert not Path(report["checkpoint"]).is_absolute()
    profile = report["profile"]
    assert "LSTM" in profile["onnx_fp32"]["operators"]
    assert sum(profile["onnx_fp32"]["operators"].values()) == pytest.approx(1, abs=1e-3)
    assert profile["torch"]["operators"] and profile["threads"] == 1
