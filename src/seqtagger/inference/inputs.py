"""The inputs of ``seqtagger-predict``: which format each input has, and its sentences, lazily.

Formats (``--input-format``): ``text`` (raw text, tokenised with character offsets by
:func:`seqtagger.inference.tokenizer.tokenize_with_offsets` and cut into sentences by
:mod:`seqtagger.inference.sentences` line by line, a sentence never crossing a line end;
``--sentence-per-line``: each line is one sentence; blank lines are skipped and counted), ``tokens``
(one pre-tokenised sentence per line, tokens separated by whitespace), and every format of the
readers' table :data:`seqtagger.data.readers.FORMATS` (``conll``, ``conllu``, ``jsonl``,
``json``, ``parquet``, ``disk`` = a ``save_to_disk`` folder), read by the corpus readers with tags
ignored, as that format whatever the file's suffix. From stdin a reader format is first copied to
a temporary file (the readers take a path).

``auto`` (default): stdin is ``text``; a file or folder the table recognises (suffix, folder)
has that format; any other suffix (``.txt``, ...) is judged by its first DETECT_MAX_LINES
non-empty lines (blank lines between sentences are looked past): ``conll`` when the first starts
with ``-DOCSTART-``; ``text`` when there are fewer than two, or they do not all have the same
number (2 to 10) of whitespace-separated columns, or a last column does not look like a tag (a
tag has no lowercase letter and no digit, like ``O``, ``NNP``, ``.``, or is ``B-``, ``I-``,
``E-`` or ``S-`` and a type). Lines that pass are ``conll`` when every tag is ``O`` or a chunk
tag, or when some word of the first column does not look like a tag (``Anna NNP``: words beside
tags); otherwise nothing tells text from columns (``NEW YORK`` / ``LOS ANGELES``) and the input
is refused with a message asking for ``--input-format``. So ``Meeting notes`` / ``John Smith``
is text and ``Peace O`` / (blank) / ``John I-PER`` is CoNLL.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

from seqtagger.constants import DOCSTART
from seqtagger.data.readers.formats import FORMATS, format_for_path
from seqtagger.errors import CorpusError, InputError
from seqtagger.inference.sentences import split_sentences
from seqtagger.inference.tokenizer import tokenize_with_offsets

STDIN = "-"
LINE_FORMATS = ("text", "tokens")  # predict's own formats, read line by line
INPUT_FORMATS = ("auto", *LINE_FORMATS, *FORMATS)
FOLDER_FORMATS = tuple(name for name, fmt in FORMATS.items() if fmt.folder)
DETECT_MAX_LINES = 100
_CHUNK_TAG = re.compile(r"[BIES]-\S+")


@dataclass
class Stats:
    """Counts for the final summary line."""

    sentences: int = 0
    tokens: int = 0
    blank_lines: int = 0
    seconds: float = 0.0  # reading, tagging and writing; the model load is not counted


class LineTokens(list[str]):
    """The tokens of a sentence of raw text, with where they are: ``line`` (from 1) and each
    token's character offsets in that line (``char_starts``, ``char_ends``: end exclusive)."""

    def __init__(self, triples: list[tuple[str, int, int]], line: int) -> None:
        super().__init__(token for token, _, _ in triples)
        self.line = line
        self.char_starts = [start for _, start, _ in triples]
        self.char_ends = [end for _, _, end in triples]

    def add_offsets(self, record: dict) -> None:
        """Add ``line``, ``char_start`` and ``char_end`` (one a token) to a JSONL ``record``,
        and ``char_start``/``char_end`` to each of its spans and its layers' spans (whose
        ``start``/``end`` are token indices)."""
        record.update(line=self.line, char_start=self.char_starts, char_end=self.char_ends)
        layers = record.get("layers", {}).values()
        for spans in (record["spans"], *(layer.get("spans", ()) for layer in layers)):
            for span in spans:
                span["char_start"] = self.char_starts[span["start"]]
                span["char_end"] = self.char_ends[span["end"] - 1]


def source_name(source: str) -> str:
    """``source`` as messages name it."""
    return "<stdin>" if source == STDIN else source


# --------------------------------------------------------------------------- detection


def detect_format(source: str) -> str:
    """The input format of ``source`` for ``--input-format auto`` (rules: module docstring);
    an InputError when its lines could be text as well as CoNLL columns."""
    if source == STDIN:
        return "text"
    known = format_for_path(source)
    if known is not None:
        return known.name
    lines = _first_lines(Path(source))
    if lines and lines[0].startswith(DOCSTART):
        return "conll"
    rows = [line.split() for line in lines]
    if not _looks_like_columns(rows):
        return "text"
    if all(_is_chunk_tag(row[-1]) for row in rows):
        return "conll"
    if not all(_looks_like_tag(row[0]) for row in rows):
        return "conll"  # words beside tags
    raise InputError(
        f"{source}: cannot tell text from CoNLL columns: each of its first {len(rows)} lines "
        f"has {len(rows[0])} words, all without lowercase letters or digits ({lines[0].strip()!r});"
        " pass --input-format text or --input-format conll"
    )


def _first_lines(path: Path) -> list[str]:
    """The first DETECT_MAX_LINES non-empty lines of ``path`` (past blank lines)."""
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        return list(islice((line for line in lines if line.strip()), DETECT_MAX_LINES))


def _looks_like_columns(rows: list[list[str]]) -> bool:
    """Two or more rows of one width (2 to 10) whose last column looks like tags."""
    widths = {len(row) for row in rows}
    if len(rows) < 2 or len(widths) != 1 or not 2 <= widths.pop() <= 10:
        return False
    return all(_looks_like_tag(row[-1]) for row in rows)


def _is_chunk_tag(word: str) -> bool:
    """``O`` or ``B-``/``I-``/``E-``/``S-`` and a type: the tags of a chunk scheme."""
    return word == "O" or _CHUNK_TAG.fullmatch(word) is not None


def _looks_like_tag(word: str) -> bool:
    """``O``, ``NNP``, ``.``, ``B-PER``, ``I-location``: not a word of text like ``Smith``."""
    plain = not any(c.islower() or c.isdigit() for c in word)
    return plain or _CHUNK_TAG.fullmatch(word) is not None


def check_inputs(sources: list[str], input_format: str) -> None:
    """Fail early, before loading the model, on an input that does not exist, is a folder
    where a file is expected (only ``auto`` and the folder formats read folders) or could be
    text as well as CoNLL columns."""
    for source in sources:
        if source == STDIN:
            if input_format in FOLDER_FORMATS:
                raise InputError(
                    f"--input-format {input_format}: cannot read stdin (expected a folder path)"
                )
            continue
        path = Path(source)
        if not path.exists():
            raise InputError(f"{source}: no such input file")
        if path.is_dir() and input_format not in ("auto", *FOLDER_FORMATS):
            raise InputError(f"{source}: is a folder (expected an input file)")
        if input_format == "auto" and path.is_file():  # a pipe is read once, by iter_input
            detect_format(source)  # refuses an input that could be text or CoNLL


# --------------------------------------------------------------------------- reading


def iter_input(
    sources: list[str], input_format: str, stats: Stats, sentence_per_line: bool = False
) -> Iterator[tuple[list[str], int]]:
    """``(tokens, document)`` of every sentence of ``sources`` in order, read lazily. Each source
    starts a document, and so does each document its format marks (``-DOCSTART-``, CoNLL-U
    ``# newdoc``): a model with document context reads a sentence's neighbours within it. As in
    the readers, marked documents have ids >= 1 (counted over all sources) and text without
    marks ids <= 0 (``-k`` in source ``k``): a document memory reads the two apart
    (``data/documents.py``). Raw text gives :class:`LineTokens`, its lines cut into sentences
    unless ``sentence_per_line``."""
    document = 0
    for index, source in enumerate(sources):
        fmt = detect_format(source) if input_format == "auto" else input_format
        count = stats.sentences
        marked_before = None
        for tokens, marked in _iter_source(source, fmt, stats, sentence_per_line):
            if marked and marked != marked_before:
                document += 1
            marked_before = marked
            stats.sentences += 1
            stats.tokens += len(tokens)
            yield tokens, document if marked else -index
        if stats.sentences == count and source != STDIN:  # empty stdin: a filter prints nothing
            raise InputError(f"no sentences in {source_name(source)}")


def _iter_source(
    source: str, fmt: str, stats: Stats, sentence_per_line: bool
) -> Iterator[tuple[list[str], int]]:
    """``(tokens, document within the source)`` per sentence."""
    if fmt in FORMATS:
        return _iter_reader(source, fmt)
    return ((tokens, 0) for tokens in _iter_lines(source, fmt, stats, sentence_per_line))


def _iter_lines(
    source: str, fmt: str, stats: Stats, sentence_per_line: bool
) -> Iterator[list[str]]:
    """The sentences of line input; a line without any is counted."""
    for sentences in line_sentences(source, fmt, sentence_per_line):
        if not sentences:
            stats.blank_lines += 1
        yield from sentences


def line_sentences(
    source: str, fmt: str, sentence_per_line: bool = False
) -> Iterator[list[list[str]]]:
    """The sentences of each line of ``source`` in a line format (``text``: raw text cut into
    sentences unless ``sentence_per_line``; ``tokens``: one sentence a line), ``[]`` for a
    line without any (a blank line)."""
    split: Callable[[str, int], list[list[str]]] = (
        partial(_text_sentences, sentence_per_line=sentence_per_line)
        if fmt == "text"
        else _token_sentence
    )
    with _open_lines(source) as lines:
        for lineno, line in enumerate(lines, 1):
            yield split(_decode(line, source, lineno), lineno)


def _token_sentence(line: str, lineno: int) -> list[list[str]]:
    """A line of pre-tokenised text: one sentence, its tokens split on whitespace."""
    tokens = line.split()
    return [tokens] if tokens else []


def _text_sentences(line: str, lineno: int, sentence_per_line: bool) -> list[list[str]]:
    """A line of raw text: its sentences (the whole line with ``sentence_per_line``)."""
    triples = tokenize_with_offsets(line)
    if not triples:
        return []
    sentences = [triples] if sentence_per_line else split_sentences(triples)
    return [LineTokens(sentence, lineno) for sentence in sentences]


@contextmanager
def _open_lines(source: str) -> Iterator[Iterable[bytes | str]]:
    """Raw lines of a file or stdin; bytes are decoded line by line so errors name the line."""
    if source != STDIN:
        with open(source, "rb") as f:
            yield f
    else:  # a text stream without a buffer (tests, IDEs) is used as is
        yield getattr(sys.stdin, "buffer", sys.stdin)


def _decode(line: bytes | str, source: str, lineno: int) -> str:
    if isinstance(line, str):
        return line.lstrip("\ufeff") if lineno == 1 else line
    try:
        return line.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{source_name(source)}:{lineno}: not valid UTF-8 (byte {line[err.start]:#04x} at "
            f"column {err.start + 1})"
        ) from None


def _iter_reader(source: str, fmt: str) -> Iterator[tuple[list[str], int]]:
    """Sentences of a corpus file through the readers; stdin is spooled to a temporary file."""
    reader = FORMATS[fmt].make_reader()  # imports the readers (and datasets) only now
    with _as_path(source, fmt) as path:
        if source == STDIN and path.stat().st_size == 0:
            return
        try:
            for sentence in reader.iter_sentences(path, require_tags=False):
                yield sentence["tokens"], sentence["document"]
        except CorpusError as err:  # name stdin, not its temporary copy
            raise InputError(str(err).replace(str(path), source_name(source))) from None


@contextmanager
def _as_path(source: str, fmt: str) -> Iterator[Path]:
    """``source`` as a path; stdin is copied (in chunks) to a temporary file first."""
    if source != STDIN:
        yield _non_empty(Path(source), source)
        return
    suffixes = FORMATS[fmt].suffixes
    with tempfile.TemporaryDirectory(prefix="seqtagger-predict-") as folder:
        path = Path(folder) / f"stdin{suffixes[0] if suffixes else ''}"
        stream = getattr(sys.stdin, "buffer", None)
        with path.open("wb") if stream else path.open("w", encoding="utf-8") as out:
            shutil.copyfileobj(stream or sys.stdin, out)
        yield path


def _non_empty(path: Path, source: str) -> Path:
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"no sentences in {source_name(source)} (empty input)")
    return path
