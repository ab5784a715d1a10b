"""``seqtagger-export --quantize int8``: onnxruntime's dynamic quantization of the exported
graph, after constant folding, so that the LSTM's weights (assembled at run time in the float32
graph), the linear layers and the embedding tables are int8 (the character CNN stays float32),
and the graph still tags as the float32 one nearly everywhere (``docs/export.md``)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from seqtagger.export.cli import main as export_main
from seqtagger.export.exporter import export_module
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.export.sidecar import read_sidecar
from seqtagger.models.vectors import load_store
from tests.exports import export_tiny, sentences, tiny_module
from tests.helpers import tiny_ner_overrides, write_vector_store


def operators(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def test_int8_quantizes_every_weight_and_tags_nearly_as_float32(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model/head=crf"]
    module = tiny_module(overrides, tmp_path / "run")
    float32, int8 = tmp_path / "float32.onnx", tmp_path / "int8.onnx"
    export_module(module, float32)
    export_module(module, int8, quantize="int8")
    assert read_sidecar(int8)["quantized"] == "int8"
    found = operators(int8)
    assert {"DynamicQuantizeLSTM", "MatMulInteger", "Conv"} <= found
    assert not found & {"LSTM", "MatMul", "ConvInteger"}  # the CNN's integer kernel is slow
    assert int8.stat().st_size < float32.stat().st_size / 3
    inputs = sentences(60, seed=8)
    expected = OnnxPredictor(float32, threads=1).predict(inputs)
    tagged = OnnxPredictor(int8, threads=1).predict(inputs)
    same = [
        a == b
        for got, want in zip(tagged, expected, strict=True)
        for a, b in zip(got, want, strict=True)
    ]
    assert sum(same) / len(same) > 0.95


def test_seqtagger_export_quantizes_on_request(tiny_checkpoint: Path, tmp_path: Path, capsys):
    model = tmp_path / "model-int8.onnx"
    assert export_main([str(tiny_checkpoint), "-o", str(model), "--quantize", "int8"]) == 0
    err = capsys.readouterr().err
    assert f"wrote {model}" in err and "parity with PyTorch: " in err
    assert "DynamicQuantizeLSTM" in operators(model)
    assert export_main([str(tiny_checkpoint), "-o", str(model), "--quantize", "int4"]) == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_an_unknown_quantization_is_refused_before_anything_is_written(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    module = tiny_module(tiny_ner_overrides(tiny_ner_dir), tmp_path / "run")
    with pytest.raises(ValueError, match="--quantize int4: expected one of int8"):
        export_module(module, tmp_path / "model.onnx", quantize="int4")
    assert not list(tmp_path.glob("model.onnx*"))


def test_a_vector_stores_table_is_quantized_and_stays_apart(tiny_ner_dir: Path, tmp_path: Path):
    """The store's table (a row lookup, ONNX ``Gather``) becomes 8-bit in the weights file."""
    words = ["anna", "oslo", *(f"w{i}" for i in range(300))]
    store = write_vector_store(tmp_path / "store", words)
    overrides = [
        *tiny_ner_overrides(tiny_ner_dir),
        "model/embedding=glove50",
        f"model.embedding.vectors={store}",
        "model.embedding.word_dim=8",
    ]
    load_store.cache_clear()
    _, path = export_tiny(overrides, tmp_path, quantize="int8")
    graph = onnx.load(str(path), load_external_data=False).graph
    table = next(t for t in graph.initializer if list(t.dims) == [len(words), 8])
    assert table.data_type == onnx.TensorProto.UINT8
    assert table.data_location == onnx.TensorProto.EXTERNAL
    assert read_sidecar(path)["weights"] == ["model.onnx.data"]
