"""The export-safe paths of the models (``export_safe``, what ``seqtagger.export`` runs) compute
what the training paths compute: the CRF's scans (and the export's own Viterbi,
``export/decoding.py``), the embedder without its CPU gather of real words, the document
memory's sums over a sort. Eager mode, no ONNX needed (the BiLSTM's ONNX ``LSTM`` nodes exist
only in an exported graph: ``tests/test_export.py`` holds them to the packed BiLSTM)."""

from __future__ import annotations

import pytest
import torch

from seqtagger.export.decoding import decode
from seqtagger.models.crf import CRFHead
from seqtagger.models.embeddings import TokenEmbedder
from seqtagger.models.memory import DocumentMemory
from tests.test_models import make_batch

LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
LENGTHS = [[7, 1, 4, 7], [1], [3, 0, 2], [2, 5]]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def padded(lengths: list[int], extra: int = 2, size: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ``x (N, L, size)`` with garbage at the padding and its ``mask (N, L)``."""
    generator = torch.Generator().manual_seed(sum(lengths) + len(lengths))
    width = max(lengths) + extra
    mask = torch.arange(width) < torch.tensor(lengths)[:, None]
    return torch.randn(len(lengths), width, size, generator=generator), mask


def random_crf(constrained: bool = True) -> CRFHead:
    torch.manual_seed(3)
    head = CRFHead(6, len(LABELS), labels=LABELS, scheme="bioes", constrained=constrained)
    with torch.no_grad():
        for parameter in (head.transitions, head.start, head.end):
            parameter.normal_()
    return head.eval()


@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("constrained", [True, False])
def test_the_scanned_viterbi_and_marginals_equal_the_loops(lengths, constrained) -> None:
    head = random_crf(constrained)
    features, mask = padded(lengths)
    logits = head(features) * 3
    with torch.no_grad():
        tags, marginals = head.decode(logits, mask), head.marginals(logits, mask, 1.7)
        head.export_safe = True
        scanned_tags = head.decode(logits, mask)
        scanned_marginals = head.marginals(logits, mask, torch.tensor(1.7))
    assert torch.equal(scanned_tags, tags)
    assert torch.equal(decode(head, logits, mask), tags)  # the graph's: export/decoding.py
    torch.testing.assert_close(scanned_marginals, marginals, atol=1e-6, rtol=1e-5)


def test_the_embedder_without_its_gather_of_real_words_embeds_the_same() -> None:
    for encoder in ("cnn", "lstm"):
        torch.manual_seed(0)
        embedder = TokenEmbedder(
            20, 15, word_dim=4, char_dim=5, char_filters=6, char_encoder=encoder
        )
        batch = make_batch([4, 1, 3])
        with torch.no_grad():
            gathered = embedder.eval()(batch)
            embedder.export_safe = True
            whole = embedder(batch)
        torch.testing.assert_close(whole, gathered, atol=1e-6, rtol=1e-5)


def test_the_memory_pools_the_same_by_sorting() -> None:
    """Repeated forms across sentences and documents, a word with an unknown character,
    garbage states at the padding: the export path's sums over a sort give the training
    path's means, 0 at the padding."""
    batch = make_batch([5, 1, 4, 5, 3], width=3, extra_pad=2)
    batch["char_ids"] = batch["char_ids"] % 3 + (batch["char_ids"] > 0)  # few forms, repeated
    batch["char_ids"][1, 0, 0] = 1  # <unk>: a form of its own
    batch["document_ids"] = torch.tensor([4, 4, 9, 4, 9])
    states = torch.randn(5, 7, 6, generator=torch.Generator().manual_seed(1))
    memory = DocumentMemory(6)
    with torch.no_grad():
        trained = memory(states, batch)
        memory.export_safe = True
        sorted_ = memory(states, batch)
    assert torch.equal(sorted_[..., :6], states)
    torch.testing.assert_close(sorted_, trained, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("max_length", "pooling"), [(None, "first"), (8, "first"), (8, "mean")])
def test_planned_windows_give_the_transformers_vectors(tiny_bert, max_length, pooling) -> None:
    """The export path of the transformer embedder (windows planned beforehand, shapes that
    follow the inputs, mean pooling without searchsorted) against its training path, with
    sentences longer than a window (8 positions: windows of 6 subwords) and shorter."""
    from seqtagger.data.collate import collate_columns
    from seqtagger.export.features import plan_arrays
    from seqtagger.models.transformer_embedder import TransformerEmbedder

    torch.manual_seed(0)
    featurizer = TransformerEmbedder.make_featurizer({"model_name_or_path": str(tiny_bert)}, {}, 20)
    options = {"dropout": 0.0, "max_length": max_length, "pooling": pooling}
    embedder = TransformerEmbedder(0, 0, str(tiny_bert), **options)
    sentences = [["the", "cat"], ["Anna", "met", "Smith", "in", "Oslo", "today"] * 2, ["a"]]
    batch = collate_columns(featurizer.encode(sentences), featurizer.pad_values)
    plan = plan_arrays(batch["word_ends"].numpy(), embedder.window, embedder.stride)
    with torch.no_grad():
        trained = embedder.eval()(batch)
        embedder.export_safe = True
        planned = embedder({**batch, **{k: torch.from_numpy(v) for k, v in plan.items()}})
    assert len(plan["window_rows"]) == (3 if max_length is None else 5)
    torch.testing.assert_close(planned, trained, atol=1e-5, rtol=1e-5)
