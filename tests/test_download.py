"""Tests for seqtagger.data.download, offline: file:// URLs and a refused local port."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from seqtagger.data.download import (
    CORPORA,
    CorpusSpec,
    download_file,
    ensure_corpus,
    git_blob_sha1,
)
from seqtagger.data.readers import CorpusNotFoundError

UNREACHABLE = "http://127.0.0.1:9/x"  # discard port: connection refused at once


def tiny_spec(source: Path, **changes) -> CorpusSpec:
    """A corpus whose 'remote' files are in ``source`` (file:// URLs)."""
    files = {"train": "train.txt", "test": "test.txt"}
    for split, file in files.items():
        (source / file).write_text(f"{split} O\n", encoding="utf-8")
    fields = {
        "name": "tiny",
        "folder": "tiny_corpus",
        "files": files,
        "urls": {split: (source / file).as_uri() for split, file in files.items()},
        "license": "CC0",
        "instructions": "copy them from the tiny source",
        "blob_sha1": {split: git_blob_sha1(source / file) for split, file in files.items()},
    }
    return CorpusSpec(**{**fields, **changes})


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "remote"
    path.mkdir()
    return path


def test_registry():
    ud = CORPORA["ud_ewt"]
    assert ud.folder == "ud_en_ewt"
    assert ud.files == {
        "train": "en_ewt-ud-train.conllu",
        "validation": "en_ewt-ud-dev.conllu",
        "test": "en_ewt-ud-test.conllu",
    }
    assert ud.urls["validation"] == (
        "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/"
        "en_ewt-ud-dev.conllu"
    )
    assert "CC BY-SA 4.0" in ud.license
    conll = CORPORA["conll2003"]
    assert conll.urls is None
    assert conll.files == {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}
    assert "eng.testa" in conll.instructions


def test_existing_files_are_returned_without_download(tmp_path):
    folder = tmp_path / "conll2003"
    folder.mkdir()
    for file in ("train.txt", "dev.txt", "test.txt"):
        (folder / file).write_text("a O\n", encoding="utf-8")
    paths = ensure_corpus("conll2003", tmp_path)
    assert paths == {
        "train": folder / "train.txt",
        "validation": folder / "dev.txt",
        "test": folder / "test.txt",
    }


def test_missing_non_redistributable_corpus_says_where_to_put_files(tmp_path):
    (tmp_path / "conll2003").mkdir()
    (tmp_path / "conll2003" / "train.txt").write_text("a O\n", encoding="utf-8")
    with pytest.raises(CorpusNotFoundError) as info:
        ensure_corpus("conll2003", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "conll2003" / "dev.txt") in message
    assert str(tmp_path / "conll2003" / "test.txt") in message
    assert "train.txt:" not in message and "train: " not in message  # present: not listed
    assert "SEQTAGGER_DATA_DIR" in message
    assert "paths.data_dir" in message
    assert "eng.testa" in message


def test_data_dir_defaults_to_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTAGGER_DATA_DIR", str(tmp_path))
    with pytest.raises(CorpusNotFoundError, match=str(tmp_path / "conll2003" / "train.txt")):
        ensure_corpus("conll2003")


def test_unknown_corpus():
    with pytest.raises(ValueError, match="ud_ewt"):
        ensure_corpus("nope", ".")


def test_download_missing_files(tmp_path, source, monkeypatch, caplog):
    monkeypatch.setitem(CORPORA, "tiny", tiny_spec(source))
    data = tmp_path / "data"
    with caplog.at_level(logging.INFO, logger="seqtagger.data.download"):
        paths = ensure_corpus("tiny", data)
    assert paths["train"] == data / "tiny_corpus" / "train.txt"
    assert paths["test"].read_text(encoding="utf-8") == "test O\n"
    assert "100%" in caplog.text
    assert sorted(os.listdir(data / "tiny_corpus")) == ["test.txt", "train.txt"]  # no .part
    # Existing files are kept, only the missing one is fetched again.
    paths["train"].write_text("local O\n", encoding="utf-8")
    paths["test"].unlink()
    ensure_corpus("tiny", data)
    assert paths["train"].read_text(encoding="utf-8") == "local O\n"
    assert paths["test"].is_file()


def test_download_disabled(tmp_path, source, monkeypatch):
    monkeypatch.setitem(CORPORA, "tiny", tiny_spec(source))
    with pytest.raises(CorpusNotFoundError, match="copy them from the tiny source"):
        ensure_corpus("tiny", tmp_path / "data", download=False)


def test_download_with_wrong_checksum_is_deleted(tmp_path, source, monkeypatch):
    spec = tiny_spec(source, blob_sha1={"train": "0" * 40})
    monkeypatch.setitem(CORPORA, "tiny", spec)
    with pytest.raises(CorpusNotFoundError, match="expected 0000"):
        ensure_corpus("tiny", tmp_path / "data")
    assert not (tmp_path / "data" / "tiny_corpus" / "train.txt").exists()


def test_offline_download_gives_manual_instructions(tmp_path, source, monkeypatch):
    spec = tiny_spec(source, urls={"train": UNREACHABLE, "test": UNREACHABLE})
    monkeypatch.setitem(CORPORA, "tiny", spec)
    with pytest.raises(CorpusNotFoundError) as info:
        ensure_corpus("tiny", tmp_path / "data")
    message = str(info.value)
    assert UNREACHABLE in message
    assert str(tmp_path / "data" / "tiny_corpus" / "train.txt") in message
    assert "SEQTAGGER_DATA_DIR" in message
    assert not list((tmp_path / "data" / "tiny_corpus").iterdir())


def test_download_file(tmp_path, source):
    (source / "big.bin").write_bytes(os.urandom(300_000))
    dest = download_file((source / "big.bin").as_uri(), tmp_path / "out" / "big.bin")
    assert dest.read_bytes() == (source / "big.bin").read_bytes()
    assert not (tmp_path / "out" / "big.bin.part").exists()


@pytest.mark.parametrize("url_kind", ["refused", "missing file"])
def test_download_file_failures(tmp_path, url_kind):
    url = UNREACHABLE if url_kind == "refused" else (tmp_path / "nope.txt").as_uri()
    dest = tmp_path / "x.txt"
    with pytest.raises(CorpusNotFoundError, match=r"could not download .*save it as .*x\.txt"):
        download_file(url, dest, progress=False)
    assert not dest.exists()
    assert not (tmp_path / "x.txt.part").exists()


def test_git_blob_sha1_of_real_ud_files_matches_registry():
    env = os.environ.get("SEQTAGGER_DATA_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    spec = CORPORA["ud_ewt"]
    folder = root / spec.folder
    if not all((folder / file).is_file() for file in spec.files.values()):
        pytest.skip(f"real UD EWT files not found under {root} (set SEQTAGGER_DATA_DIR)")
    for split, file in spec.files.items():
        assert git_blob_sha1(folder / file) == spec.blob_sha1[split], file
