"""Fixtures shared by the tests; the functions they use live in ``tests/helpers.py``."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.helpers import (
    compose_train,
    make_ner_sentence,
    shared_data_dir,
    tiny_ner_overrides,
    write_conll,
)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip(
            "real corpora not found: set SEQTAGGER_DATA_DIR to a folder holding ud_en_ewt/ and "
            "conll2003/ (CI uses ../shared/data)"
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One datasets cache for the whole session, never the user's (ours nor Hugging Face's)."""
    os.environ["SEQTAGGER_CACHE_DIR"] = str(tmp_path_factory.mktemp("datasets_cache"))
    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("hf_datasets_cache"))


@pytest.fixture(scope="session")
def tiny_ner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/dev/test CoNLL files (IOB2) of a generated NER corpus: 240/40/40 sentences."""
    folder = tmp_path_factory.mktemp("tiny_ner")
    rng = random.Random(7)
    for name, count in (("train.txt", 240), ("dev.txt", 40), ("test.txt", 40)):
        write_conll(folder / name, [make_ner_sentence(rng) for _ in range(count)])
    return folder


@pytest.fixture(scope="session")
def tiny_run(tiny_ner_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of a tiny NER tagger trained for 3 epochs (checkpoints, config, metrics)."""
    from seqtagger.train import train

    run_dir = tmp_path_factory.mktemp("tiny_run")
    cfg = compose_train([*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=3"], run_dir)
    train(cfg)
    return run_dir


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_run: Path) -> Path:
    """The best checkpoint of ``tiny_run``."""
    best = sorted((tiny_run / "checkpoints").glob("epoch_*.ckpt"))
    return best[-1]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder (``tests.helpers.write_tiny_bert``): 16 positions."""
    pytest.importorskip("transformers", reason="the optional extra seqtagger[transformers]")
    from tests.helpers import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
