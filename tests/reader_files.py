"""Helpers shared by the reader tests: a small CoNLL-2003-like file, files written in a temp
folder, sentences read back, and the ``datasets`` cache kept private to each test."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

CONLL = """-DOCSTART- -X- O O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

BRUSSELS NNP B-NP I-LOC
"""


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path, monkeypatch):
    """Keep load_dataset/from_generator caches out of ~/.cache/huggingface."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def sentences(reader, path, **kwargs) -> list[dict]:
    """Each sentence's dict without ``document`` (``test_context.py`` tests documents)."""
    return [
        {key: value for key, value in sentence.items() if key != "document"}
        for sentence in reader.iter_sentences(path, **kwargs)
    ]
