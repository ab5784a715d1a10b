"""The export-time stand-ins compute what the parts they stand in for compute: the character CNN
on real words only, the BiLSTM by groups of similar length (ONNX ``LSTM`` nodes, so run by
onnxruntime); and a graph's weights that several ``LSTM`` nodes share are quantized once for
each (``seqtagger.export.lean``, ``export/quantize.py``). The export's Viterbi is held to the
CRF's in ``tests/test_export_paths.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.export import Dim

from seqtagger.export.graph import quietly
from seqtagger.export.lean import GROUPS, RealWords, SortedBiLSTM, leaner
from seqtagger.export.quantize import own_lstm_weights
from seqtagger.models.chars import CharCNN, CharLSTM
from seqtagger.models.encoders import BiLSTMEncoder
from tests.test_export_paths import padded
from tests.test_models import make_batch

ort = pytest.importorskip("onnxruntime", reason="the optional extra seqtagger[onnx]")


def test_the_character_cnn_on_real_words_gives_every_positions_features() -> None:
    torch.manual_seed(0)
    cnn = CharCNN(15, 5, 6).eval()
    for lengths in ([4, 1, 3], [1], [2, 0, 5]):
        char_ids = make_batch(lengths, extra_pad=2)["char_ids"]  # padded words: no characters
        char_ids = nn.functional.pad(char_ids, (0, 4))  # wider than the longest word
        with torch.no_grad():
            torch.testing.assert_close(RealWords(cnn, 0)(char_ids), cnn(char_ids))


def test_leaner_swaps_the_parts_in_and_back() -> None:
    class Embedder(nn.Module):
        def __init__(self, chars: nn.Module) -> None:
            super().__init__()
            self.char_cnn, self.char_encoder = chars, chars

    cnn, lstm = CharCNN(15, 5, 6), CharLSTM(15, 5, 6)
    model = nn.ModuleDict({"cnn": Embedder(cnn), "lstm": Embedder(lstm)})
    model["encoder"] = encoder = BiLSTMEncoder(8, 6)
    with leaner(model):
        assert isinstance(model["cnn"].char_cnn, RealWords)
        assert model["lstm"].char_cnn is lstm  # nn.LSTM on a data-sized batch does not export
        assert isinstance(model["encoder"], SortedBiLSTM)
    assert model["cnn"].char_cnn is cnn and model["encoder"] is encoder


class Encoded(nn.Module):
    """``x``, ``mask`` -> the encoder's states, through :class:`SortedBiLSTM`."""

    def __init__(self, encoder: BiLSTMEncoder) -> None:
        super().__init__()
        self.sorted = SortedBiLSTM(encoder)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.sorted(x, mask.sum(dim=1), mask)


def export_encoder(encoder: BiLSTMEncoder, path: Path) -> None:
    x = torch.randn(7, 9, 5)
    mask = torch.arange(9) < torch.tensor([9, 3, 1, 5, 2, 8, 4])[:, None]
    batch, length = Dim("batch"), Dim("length")
    shapes = ({0: batch, 1: length}, {0: batch, 1: length})
    with torch.no_grad(), quietly("torch.onnx", "torch.export", "onnxscript", "onnx_ir"):
        program = torch.onnx.export(
            Encoded(encoder), (x, mask), dynamo=True, dynamic_shapes=shapes, verbose=False
        )
    program.save(str(path))


def test_the_bilstm_by_length_groups_gives_the_packed_states(tmp_path: Path) -> None:
    """Batches smaller than the groups, of one sentence, of one word, with empty sentences."""
    torch.manual_seed(0)
    encoder = BiLSTMEncoder(5, 8, num_layers=2).eval().requires_grad_(False)
    export_encoder(encoder, tmp_path / "encoder.onnx")
    session = ort.InferenceSession(str(tmp_path / "encoder.onnx"), ort.SessionOptions())
    names = [i.name for i in session.get_inputs()]
    nodes = onnx.load(str(tmp_path / "encoder.onnx")).graph.node
    assert sum(node.op_type == "LSTM" for node in nodes) == 2 * GROUPS
    for lengths in ([1], [4], [2, 1], [6, 0, 3], [5, 1, 7, 2, 2, 9, 3, 1, 4, 8, 6]):
        x, mask = padded(lengths, extra=1, size=5)
        with torch.no_grad():
            expected = encoder(x, torch.tensor(lengths), mask).numpy()
        found = session.run(None, dict(zip(names, (x.numpy(), mask.numpy()), strict=True)))[0]
        np.testing.assert_allclose(found, expected, atol=1e-5)


def test_lstm_nodes_get_weights_of_their_own_before_quantizing(tmp_path: Path) -> None:
    """The quantizer rewrites an LSTM's weights in place, once per node that reads them."""
    encoder = BiLSTMEncoder(5, 8).eval().requires_grad_(False)
    path = tmp_path / "encoder.onnx"
    export_encoder(encoder, path)
    folded = tmp_path / "folded.onnx"
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(folded)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    ort.InferenceSession(str(path), options)  # folds the weights into constants
    own_lstm_weights(folded, None)
    lstms = [node for node in onnx.load(str(folded)).graph.node if node.op_type == "LSTM"]
    weights = [name for node in lstms for name in node.input[1:3]]
    assert len(lstms) == GROUPS and len(set(weights)) == len(weights)
