"""``docs/examples/``: one small file per corpus format, each read by seqtagger's own reader and
trained on, so the files the docs (Your own corpus) point newcomers at are known to work."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqtagger.data.readers import FORMATS, format_for_path, reader_for_path
from tests.helpers import REPO_ROOT, compose_train
from tools import format_examples

EXAMPLES_DIR = REPO_ROOT / "docs" / "examples"
# example -> (format the readers pick for it, file scheme, headline metric)
EXAMPLES: dict[str, tuple[str, str, str]] = {
    "ner.conll": ("conll", "iob2", "f1"),
    "pos.conllu": ("conllu", "plain", "acc"),
    "ner.jsonl": ("jsonl", "iob2", "f1"),
    "ner.json": ("json", "iob2", "f1"),
    "ner.parquet": ("parquet", "iob2", "f1"),
    "ner_dataset": ("disk", "iob2", "f1"),
}


def test_every_format_has_an_example() -> None:
    """A format added to the readers' table needs an example (and a row here)."""
    assert set(format_examples.WRITERS) == set(EXAMPLES)
    for name, (fmt, _, _) in EXAMPLES.items():
        found = format_for_path(EXAMPLES_DIR / name)
        assert (found.name if found else "conll") == fmt, name
    assert {fmt for fmt, _, _ in EXAMPLES.values()} == set(FORMATS)


def test_text_examples_are_what_the_script_writes(tmp_path: Path) -> None:
    """The committed text files are the script's output: regenerate them, never hand-edit."""
    format_examples.main([str(tmp_path)])
    for name in format_examples.TEXT_FILES:
        assert (tmp_path / name).read_text() == (EXAMPLES_DIR / name).read_text(), name


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_reads_every_sentence(name: str, tmp_path: Path) -> None:
    dataset = reader_for_path(EXAMPLES_DIR / name).read(EXAMPLES_DIR / name, str(tmp_path))
    upos = EXAMPLES[name][1] == "plain"
    expected = [(tokens, pos if upos else ner) for tokens, ner, pos in format_examples.SENTENCES]
    assert [(row["tokens"], row["tags"]) for row in dataset] == expected


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_trains(name: str, tmp_path: Path) -> None:
    """The docs' command for this format, shrunk: one epoch of a small model."""
    from seqtagger.train import train

    _, scheme, headline = EXAMPLES[name]
    overrides = [
        "data=files",
        f"paths.data_dir={EXAMPLES_DIR}",
        f"data.files.train={name}",
        f"data.files.validation={name}",
        f"data.files.test={name}",
        f"data.file_scheme={scheme}",
        f"data.headline={headline}",
        "trainer.max_epochs=1",
        "model.encoder.hidden_size=16",
        "model.embedding.word_dim=8",
        "model.embedding.char_filters=8",
        "callbacks.rich_progress_bar=null",
    ]
    metrics = train(compose_train(overrides, tmp_path))
    assert 0.0 <= metrics[f"test/{headline}"] <= 1.0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
