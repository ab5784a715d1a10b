"""Helpers of the ONNX export tests: tiny untrained models built from the real configs, and
the PyTorch and ONNX paths compared on the same sentences."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import hydra
import pytest
import torch

from seqtagger.export.exporter import export_module
from seqtagger.export.parity import check_parity, parity_batches
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.inference import Predictor
from seqtagger.utils.targets import to_plain
from tests.helpers import compose_train, make_ner_sentence

pytest.importorskip("onnxruntime", reason="the optional extra seqtagger[onnx]")

LONG_WORDS = ["Zanzibar", "unbelievably", "Qwxyz"]  # unseen words, many subwords


def tiny_module(overrides: list[str], output_dir: Path):
    """An untrained ``TaggerModule`` of ``overrides`` (a tiny config) sized by its data, in
    eval mode, with random CRF transitions (zeros would hide a wrong Viterbi)."""
    cfg = compose_train(overrides, output_dir)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))
    datamodule.setup("fit")
    torch.manual_seed(0)
    factory = hydra.utils.instantiate(cfg.model, _recursive_=False, _partial_=True)
    module = factory(data_info=datamodule.data_info()).eval()
    with torch.no_grad():
        for name, parameter in module.tagger.named_parameters():
            if name.rsplit(".", 1)[-1] in ("transitions", "start", "end"):
                parameter.normal_()
    return module


def export_tiny(overrides: list[str], folder: Path, quantize: str | None = None):
    """``(module, graph path)``: :func:`tiny_module` exported to ``folder/model.onnx``."""
    module = tiny_module(overrides, folder / "run")
    path = folder / "model.onnx"
    export_module(module, path, quantize=quantize)
    return module, path


def sentences(count: int, seed: int) -> list[list[str]]:
    """``count`` generated NER sentences, a one-token one and a long one of unseen words."""
    rng = random.Random(seed)
    return [
        ["Anna"],
        *(make_ner_sentence(rng)[0] for _ in range(count)),
        LONG_WORDS * 5,
    ]


def assert_parity(module, path: Path) -> None:
    """The graph decodes every tag of the parity batches as the PyTorch model does (other
    batch sizes and lengths than the export example's, one-token sentences included), and
    its scores and probabilities are within 1e-4 of the model's."""
    predictor = OnnxPredictor(path, threads=1)
    words = [*module.vocabs["words"].itos[2:], *LONG_WORDS]
    parity = check_parity(module.tagger, predictor.model, parity_batches(predictor.model, words))
    assert parity.agreement == 1.0, parity
    assert parity.logits < 1e-4 and parity.probabilities < 1e-4, parity


def assert_predicts_as_pytorch(
    module, path: Path, inputs: Sequence[Sequence[str]], documents=None
) -> None:
    """``OnnxPredictor`` gives ``Predictor``'s tags, scores (within 1e-5) and text API."""
    torch_path = Predictor(module, device="cpu", batch_size=8)
    onnx_path = OnnxPredictor(path, batch_size=8, threads=1)
    assert onnx_path.predict(inputs, documents) == torch_path.predict(inputs, documents)
    scored = onnx_path.predict_scored(inputs, documents)
    expected = torch_path.predict_scored(inputs, documents)
    assert [tags for tags, _ in scored] == [tags for tags, _ in expected]
    for (_, found), (_, wanted) in zip(scored, expected, strict=True):
        assert found == pytest.approx(wanted, abs=1e-5)
    text = "Anna Smith visited Oslo. She met the Red Cross in Lima.\n\nEU rejects it."
    assert [d.to_dict() for d in onnx_path(text)] == [d.to_dict() for d in torch_path(text)]
