"""A vector store's word index is read from Parquet once per version, then from the user's cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seqtagger.errors import ConfigError
from seqtagger.models import word_index
from seqtagger.models.vectors import load_store
from tests.helpers import write_vector_store

WORDS = ["the", "anna", "zürich", "new\nline", "🙂"]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SEQTAGGER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / word_index.FOLDER


def _index(folder: Path) -> Path:
    return next(folder.glob("*index.parquet"))


def test_the_words_come_from_the_cache_after_the_first_read(tmp_path, cache, monkeypatch):
    folder = write_vector_store(tmp_path / "store", WORDS)
    assert word_index.read_words(_index(folder)) == WORDS
    assert len(list(cache.glob("*.json"))) == 1

    def no_parquet(path: Path) -> list[str]:
        raise AssertionError("the Parquet index was read again")

    monkeypatch.setattr(word_index, "_read_parquet", no_parquet)
    assert word_index.read_words(_index(folder)) == WORDS


def test_a_rewritten_index_is_read_again(tmp_path, cache):
    folder = write_vector_store(tmp_path / "store", WORDS)
    assert word_index.read_words(_index(folder)) == WORDS
    write_vector_store(folder, ["other", "words"])
    assert word_index.read_words(_index(folder)) == ["other", "words"]


def test_an_unusable_cache_is_ignored(tmp_path, monkeypatch):
    folder = write_vector_store(tmp_path / "store", WORDS)
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SEQTAGGER_CACHE_DIR", str(blocker))
    assert word_index.read_words(_index(folder)) == WORDS
    assert word_index.read_words(_index(folder)) == WORDS


def test_a_corrupt_cache_entry_is_read_from_parquet_again(tmp_path, cache):
    folder = write_vector_store(tmp_path / "store", WORDS)
    word_index.read_words(_index(folder))
    entry = next(cache.glob("*.json"))
    entry.write_text('["cut sh')
    assert word_index.read_words(_index(folder)) == WORDS


def test_an_unreadable_index_is_one_message_naming_it(tmp_path, cache):
    folder = write_vector_store(tmp_path / "store", WORDS)
    _index(folder).write_bytes(b"not parquet at all")
    load_store.cache_clear()
    with pytest.raises(ConfigError, match="not a readable Parquet word index"):
        load_store(str(folder))


def test_a_cached_store_opens_without_pyarrow(tmp_path, cache):
    folder = write_vector_store(tmp_path / "store", WORDS)
    load_store.cache_clear()
    load_store(str(folder))
    code = (
        "import sys; from seqtagger.models.vectors import load_store; "
        f"load_store({str(folder)!r}); print('pyarrow' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "False"
