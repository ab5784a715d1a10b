"""Every model kind exports to one ONNX graph that decodes as PyTorch does at other batch sizes
and lengths (one-token sentences included), and ``OnnxPredictor`` gives ``Predictor``'s outputs:
a character BiLSTM with two tasks (a CRF and a linear head), the Transformer encoder, GloVe-style
vectors with document context, the document memory and a pretrained transformer (a tiny random
BERT, sentences longer than its windows; first and mean pooling). Tiny untrained models built
from the real configs (``docs/export.md``)."""

from __future__ import annotations

import random
from pathlib import Path

import onnx

from seqtagger.export.parity import compare_batch
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.export.sidecar import read_sidecar
from seqtagger.inference import Predictor
from seqtagger.models.vectors import load_store
from tests.exports import assert_parity, assert_predicts_as_pytorch, export_tiny, sentences
from tests.helpers import tiny_hf_overrides, tiny_ner_overrides, write_vector_store

TWO_TASKS = [
    "+data.tasks={pos: {column: 1}, ner: {column: 2, file_scheme: iob2, headline: true}}",
    "model/head=crf",
    "+model.heads.pos={_target_: seqtagger.models.heads.LinearHead}",
]
CHAR_BILSTM = [
    "model/embedding=word_charlstm",
    "model.embedding.word_dim=16",
    "model.embedding.char_dim=8",
    "model.embedding.char_filters=8",
]


def documents_of(count: int, seed: int) -> list[int]:
    """Document ids of ``count`` sentences in runs (ids >= 1: marked documents)."""
    rng = random.Random(seed)
    return sorted(rng.randint(1, max(count // 5, 1)) for _ in range(count))


def test_a_character_bilstm_with_two_tasks(tiny_ner_dir: Path, tmp_path: Path) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), *CHAR_BILSTM, *TWO_TASKS]
    module, path = export_tiny(overrides, tmp_path)
    assert [task["name"] for task in read_sidecar(path)["tasks"]] == ["pos", "ner"]
    assert_parity(module, path)
    inputs = sentences(30, seed=3)
    assert_predicts_as_pytorch(module, path, inputs)
    expected = Predictor(module, device="cpu").predict_layers(inputs)
    assert OnnxPredictor(path, threads=1).predict_layers(inputs) == expected


def test_the_transformer_encoder_with_a_crf(tiny_ner_dir: Path, tmp_path: Path) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir, model="transformer"), "model/head=crf"]
    module, path = export_tiny(overrides, tmp_path)
    assert_parity(module, path)
    assert_predicts_as_pytorch(module, path, sentences(30, seed=4))


def test_vectors_with_document_context(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """The store's table travels in the graph's weights file (``model.onnx.data``), its word
    list in the sidecar; unseen words the store knows take its vectors as in PyTorch."""
    words = ["anna", "oslo", "zanzibar", "the", "cat", *(f"w{i}" for i in range(100))]
    store = write_vector_store(tmp_path / "store", words)  # a table big enough to go apart
    overrides = [
        *tiny_ner_overrides(tiny_ner_dir),
        "model/embedding=glove50",
        f"model.embedding.vectors={store}",
        "model.embedding.word_dim=8",
        "model.embedding.char_dim=8",
        "data.context=4",
    ]
    load_store.cache_clear()
    module, path = export_tiny(overrides, tmp_path)
    sidecar = read_sidecar(path)
    assert sidecar["vector_words"] == words
    assert sidecar["weights"] == ["model.onnx.data"] and sidecar["context"] == 4
    table = next(
        t
        for t in onnx.load(str(path), load_external_data=False).graph.initializer
        if list(t.dims) == [len(words), 8]
    )
    assert table.data_location == onnx.TensorProto.EXTERNAL
    assert_parity(module, path)
    inputs = sentences(30, seed=5)
    assert_predicts_as_pytorch(module, path, inputs, documents_of(len(inputs), seed=5))


def test_the_document_memory(tiny_ner_dir: Path, tmp_path: Path) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model/memory=document", "model/head=crf"]
    module, path = export_tiny(overrides, tmp_path)
    assert read_sidecar(path)["reads_documents"] is True
    assert_parity(module, path)
    inputs = sentences(30, seed=6)
    assert_predicts_as_pytorch(module, path, inputs, documents_of(len(inputs), seed=6))


def test_the_document_memory_pools_the_same_on_two_threads(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """A document that repeats a few words thousands of times, in one batch, run five times on
    two onnxruntime threads: the pooled states are the same each time and PyTorch's (an
    ``index_add_`` exported as it is races on repeated words: ``models/memory.py``)."""
    wide = ["model/memory=document", "model.encoder.hidden_size=128"]  # work to share out
    module, path = export_tiny([*tiny_ner_overrides(tiny_ner_dir), *wide], tmp_path)
    graph = OnnxPredictor(path, threads=2).model
    rows = [["Anna", "met", "Oslo", "Anna", "the", "cat"] * 4 for _ in range(200)]
    for _ in range(5):
        tallies, _ = compare_batch(module.tagger, graph, rows, documents=[1] * len(rows))
        assert tallies["tags"].logits < 1e-4 and tallies["tags"].probabilities < 1e-4


def test_a_pretrained_transformer_over_windows(
    tiny_ner_dir: Path, tiny_bert: Path, tmp_path: Path
) -> None:
    """Tiny BERT of 16 positions: the long sentences of :func:`sentences` take several
    windows, planned on the host and stitched in the graph."""
    module, path = export_tiny(
        tiny_hf_overrides(tiny_ner_dir, tiny_bert, "crf", "hf_char"), tmp_path
    )
    assert read_sidecar(path)["windows"] == [
        module.tagger.embedder.window,
        module.tagger.embedder.stride,
    ]
    assert_parity(module, path)
    inputs = sentences(20, seed=7)
    features = OnnxPredictor(path).model.features(inputs)
    assert len(features["window_rows"]) > len(inputs)  # some sentences take several windows
    assert_predicts_as_pytorch(module, path, inputs)


def test_mean_pooling_of_subwords(tiny_ner_dir: Path, tiny_bert: Path, tmp_path: Path) -> None:
    """Each word the mean of its subwords, with a linear head, without characters."""
    overrides = tiny_hf_overrides(tiny_ner_dir, tiny_bert, "linear", "hf")
    module, path = export_tiny([*overrides, "model.embedding.pooling=mean"], tmp_path)
    assert_parity(module, path)
