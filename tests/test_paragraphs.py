"""Streamed line input read by documents for a document memory: a blank line ends a document,
which is given out at once; a paragraph past the bound is cut as training cuts text without
marks, piece by piece."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from seqtagger.data.documents import MAX_DOCUMENT_SENTENCES, PIECE_SENTENCES, unit_ids
from seqtagger.errors import InputError
from seqtagger.inference.inputs import Stats
from seqtagger.inference.paragraphs import iter_paragraphs, reads_lines, waiting_documents
from seqtagger.inference.read_ahead import ReadAhead


def test_each_paragraph_is_a_document_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Anna met Bob. Then she left.\n\n\nEU rejects it.\nPeace holds.\n\nOne.\n")
    stats = Stats()
    paragraphs = list(iter_paragraphs([str(path)], "auto", stats))
    assert [[tokens for tokens, _ in p] for p in paragraphs] == [
        [["Anna", "met", "Bob", "."], ["Then", "she", "left", "."]],
        [["EU", "rejects", "it", "."], ["Peace", "holds", "."]],
        [["One", "."]],
    ]
    assert [{document for _, document in p} for p in paragraphs] == [{1}, {2}, {3}]
    assert (stats.sentences, stats.tokens, stats.blank_lines) == (5, 17, 3)


def test_a_long_paragraph_comes_in_pieces_cut_as_training_cuts_text_without_marks(
    tmp_path: Path,
) -> None:
    long = MAX_DOCUMENT_SENTENCES + 2 * PIECE_SENTENCES + 5
    path = tmp_path / "long.txt"
    lines = [f"w{i} x" for i in range(long)] + ["", "short one", "", "w y"] * 1
    path.write_text("\n".join(lines) + "\n")
    pieces = list(iter_paragraphs([str(path)], "tokens", Stats()))
    sizes = [len(piece) for piece in pieces]
    assert sizes[:-2] == [PIECE_SENTENCES] * (long // PIECE_SENTENCES) + [long % PIECE_SENTENCES]
    assert sizes[-2:] == [1, 1]
    documents = [document for piece in pieces for _, document in piece]
    assert len({document for piece in pieces[:-2] for _, document in piece}) == 1
    assert documents[0] <= 0 and documents[-2:] == [1, 2]
    units = unit_ids(documents)
    assert units[:long] == [i // PIECE_SENTENCES for i in range(long)]
    assert len(set(units[long:])) == 2 and not set(units[long:]) & set(units[:long])


def test_documents_that_arrive_together_are_tagged_together() -> None:
    queued, gate = threading.Event(), threading.Event()

    def documents():
        yield [(["a"], 1)]
        yield [(["b"], 2), (["c"], 2)]
        queued.set()  # the reader asks for the third once it has queued the second
        gate.wait(timeout=30)
        yield [(["d"], 3)]

    chunks = waiting_documents(ReadAhead(documents(), ahead=8))
    assert queued.wait(timeout=30)
    first = next(chunks)
    assert [tokens for tokens, _ in first] == [["a"], ["b"], ["c"]]
    gate.set()
    assert [tokens for chunk in chunks for tokens, _ in chunk] == [["d"]]


def test_line_formats_are_told_from_corpus_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("Anna met Bob.\n")
    corpus = tmp_path / "test.conll"
    corpus.write_text("Anna B-PER\n")
    assert reads_lines([str(text), "-"], "auto") and reads_lines([str(corpus)], "tokens")
    assert not reads_lines([str(text), str(corpus)], "auto")


def test_an_empty_file_among_streamed_inputs_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match=r"no sentences in .*empty\.txt"):
        list(iter_paragraphs([str(empty)], "text", Stats()))
