"""The inputs of ``seqtagger-predict``: which format each input has, and its sentences, lazily.

Formats (``--input-format``): ``text`` (one sentence or paragraph per line, tokenised by
:func:`seqtagger.inference.tokenizer.tokenize`; blank lines are skipped and counted), ``tokens``
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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from seqtagger.constants import DOCSTART
from seqtagger.data.readers.formats import FORMATS, format_for_path
from seqtagger.errors import CorpusError, InputError
from seqtagger.inference.tokenizer import tokenize

STDIN = "-"
LINE_FORMATS = ("text", "tokens")  # predict's own formats, one sentence per line
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
    sources: list[str], input_format: str, stats: Stats
) -> Iterator[tuple[list[str], int]]:
    """``(tokens, document)`` of every sentence of ``sources`` in order, read lazily. Each source
    starts a document, and so does each document its format marks (``-DOCSTART-``, CoNLL-U
    ``# newdoc``): a model with document context reads a sentence's neighbours within it. As in
    the readers, marked documents have ids >= 1 (counted over all sources) and text without
    marks ids <= 0 (``-k`` in source ``k``): a document memory reads the two apart
    (``data/documents.py``)."""
    document = 0
    for index, source in enumerate(sources):
        fmt = detect_format(source) if input_format == "auto" else input_format
        count = stats.sentences
        marked_before = None
        for tokens, marked in _iter_source(source, fmt, stats):
            if marked and marked != marked_before:
                document += 1
            marked_before = marked
            stats.sentences += 1
            stats.tokens += len(tokens)
            yield tokens, document if marked else -index
        if stats.sentences == count:
            raise InputError(f"no sentences in {source_name(source)}")


def _iter_source(source: str, fmt: str, stats: Stats) -> Iterator[tuple[list[str], int]]:
    """``(tokens, document within the source)`` per sentence."""
    if fmt in FORMATS:
        return _iter_reader(source, fmt)
    return ((tokens, 0) for tokens in _iter_lines(source, fmt == "text", stats))


def _iter_lines(source: str, raw_text: bool, stats: Stats) -> Iterator[list[str]]:
    """One sentence per line: tokenised (text) or split on whitespace (tokens)."""
    split = tokenize if raw_text else str.split
    with _open_lines(source) as lines:
        for lineno, line in enumerate(lines, 1):
            tokens = split(_decode(line, source, lineno))
            if tokens:
                yield tokens
            else:
                stats.blank_lines += 1


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
        yield _non_empty(path, source)


def _non_empty(path: Path, source: str) -> Path:
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"no sentences in {source_name(source)} (empty input)")
    return path
