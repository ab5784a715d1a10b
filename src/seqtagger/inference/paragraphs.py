"""Streamed line input read by documents, for a model with a document memory: on a pipe or a
terminal, ``seqtagger-predict`` tags a document's sentences as soon as the document ends, a blank
line ending one.

A document memory reads every sentence of a document before it tags any, so a sentence cannot
be written before its document has ended. Line input (``text``, ``tokens``) read from a stream
is therefore read as paragraphs, the sentences between blank lines, each a marked document: kept
whole up to :data:`~seqtagger.data.documents.MAX_DOCUMENT_SENTENCES` sentences, as training
keeps a marked document. A paragraph that grows past that bound is read as text without marks,
cut into pieces of :data:`~seqtagger.data.documents.PIECE_SENTENCES` from its start as training
cuts it, and each piece is given out as soon as it is complete, so memory stays bounded on a
stream without blank lines. A file read whole (not a stream) keeps the rule of
``data/documents.py``: text without marks, whatever its blank lines.
"""

from __future__ import annotations

from collections.abc import Iterator

from seqtagger.data.documents import MAX_DOCUMENT_SENTENCES, PIECE_SENTENCES
from seqtagger.errors import InputError
from seqtagger.inference.inputs import (
    LINE_FORMATS,
    STDIN,
    Stats,
    detect_format,
    line_sentences,
    source_name,
)
from seqtagger.inference.read_ahead import ReadAhead

__all__ = ["iter_paragraphs", "reads_lines", "waiting_documents"]

Document = list[tuple[list[str], int]]  # (tokens, document id) of each sentence


def reads_lines(sources: list[str], input_format: str) -> bool:
    """Whether every source is in a line format (``text`` or ``tokens``)."""
    if input_format != "auto":
        return input_format in LINE_FORMATS
    return all(detect_format(source) in LINE_FORMATS for source in sources)


def iter_paragraphs(
    sources: list[str], input_format: str, stats: Stats, sentence_per_line: bool = False
) -> Iterator[Document]:
    """The sentences of line input ``sources``, a paragraph (or a piece of a long one) at a
    time, each given out once the blank line or the end of input that ends it is read. A whole
    paragraph is a marked document (ids 1, 2, ...), the pieces of a long one share an id <= 0
    of their own (module docstring)."""
    marked = paragraphs = 0
    for source in sources:
        fmt = detect_format(source) if input_format == "auto" else input_format
        count = stats.sentences
        lines = line_sentences(source, fmt, sentence_per_line)
        for sentences, paragraph, whole in _paragraph_pieces(lines, stats, paragraphs):
            stats.sentences += len(sentences)
            stats.tokens += sum(map(len, sentences))
            marked += whole
            document = marked if whole else -paragraph
            paragraphs = paragraph + 1
            yield [(tokens, document) for tokens in sentences]
        if stats.sentences == count and source != STDIN:  # empty stdin: a filter prints nothing
            raise InputError(f"no sentences in {source_name(source)}")


def _paragraph_pieces(
    lines: Iterator[list[list[str]]], stats: Stats, paragraph: int
) -> Iterator[tuple[list[list[str]], int, bool]]:
    """``(sentences, paragraph number, whole)``, numbers from ``paragraph``: a paragraph of at
    most ``MAX_DOCUMENT_SENTENCES`` sentences (``whole``), or the pieces of a longer one as each
    completes (its last may be shorter)."""
    held: list[list[str]] = []
    long = False
    for sentences in lines:
        if not sentences:
            stats.blank_lines += 1
            if held:
                yield held, paragraph, not long
            if held or long:
                paragraph += 1
            held, long = [], False
            continue
        held.extend(sentences)
        long = long or len(held) > MAX_DOCUMENT_SENTENCES
        while long and len(held) >= PIECE_SENTENCES:
            yield held[:PIECE_SENTENCES], paragraph, False
            held = held[PIECE_SENTENCES:]
    if held:
        yield held, paragraph, not long


def waiting_documents(documents: ReadAhead[Document]) -> Iterator[Document]:
    """The sentences of the next document (waiting for it) and of every document already read
    after it, so that documents that arrive together are tagged in shared batches."""
    for first in documents:
        chunk = list(first)
        while documents.waiting():
            following = next(documents, None)
            if following is None:
                break
            chunk.extend(following)
        yield chunk
