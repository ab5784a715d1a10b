"""The output of ``seqtagger-predict``: tagged sentences in input order, as CoNLL or JSONL, to
stdout or to a file that is replaced only when the run succeeds or is interrupted (a FIFO, a
device or ``/proc/self/fd/N`` is written through, as a shell's ``>`` writes it).

``conll`` writes ``token<TAB>tag`` lines and a blank line after each sentence; whitespace inside
a token (a CoNLL-U FORM like ``1 000``) is written as ``_``
(:func:`seqtagger.metrics.conlleval.conll_token`), as in eval's ``predictions.conll``. ``jsonl``
writes ``{"tokens", "tags", "spans"}`` per line (tokens as read), spans from
:meth:`Predictor.spans` (the metric's span code; ``start``/``end``: token indices, ``end``
exclusive); on raw text also ``line`` (from 1) and ``char_start``/``char_end``, per token (lists)
and per span: character offsets in that line, ``line[char_start:char_end]`` being the token's or
span's own characters. With ``--scores`` each tag's probability (``seqtagger.inference.scores``,
4 decimals) is a third CoNLL column, and JSONL gets a ``scores`` list and a ``score`` per span.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from seqtagger.errors import InputError
from seqtagger.inference.inputs import STDIN, LineTokens
from seqtagger.metrics.conlleval import conll_token
from seqtagger.utils.files import file_mode

if TYPE_CHECKING:
    from seqtagger.inference.predictor import Predictor

OUTPUT_FORMATS = ("conll", "jsonl")
SCORE_DIGITS = 4  # decimals of the scores written (--scores)


def tag_stream(
    predictor: Predictor, sentences: Iterable[tuple[list[str], int]], scored: bool = False
) -> Iterator[tuple[list[str], list[str], list[float] | None]]:
    """``(tokens, tags, scores)`` per ``(tokens, document)`` input, in input order, as soon as
    each is tagged; ``scores`` (each tag's probability) only when ``scored``, else None.

    ``predict_stream`` yields tags only; the tokens it has read but not yet tagged wait in a
    queue (at most about one window of them), so no copy of the input is kept. The documents go
    to a model with document context or a document memory in step with the sentences (it reads
    a sentence, then its document).
    """
    waiting: deque[list[str]] = deque()
    documents: deque[int] = deque()
    context = bool(predictor.context) or predictor.reads_documents

    def remember() -> Iterator[list[str]]:
        for tokens, document in sentences:
            waiting.append(tokens)
            if context:
                documents.append(document)
            yield tokens

    def their_documents() -> Iterator[int]:
        while documents:
            yield documents.popleft()

    inputs = (remember(), their_documents() if context else None)
    if scored:
        for tags, scores in predictor.predict_scored_stream(*inputs):
            yield waiting.popleft(), tags, scores
    else:
        for tags in predictor.predict_stream(*inputs):
            yield waiting.popleft(), tags, None


def format_conll(tokens: list[str], tags: list[str], scores: list[float] | None = None) -> str:
    """``token<TAB>tag`` lines (``<TAB>score`` added with ``scores``) and a blank line that ends
    the sentence (whitespace inside a token becomes ``_``:
    :func:`~seqtagger.metrics.conlleval.conll_token`)."""
    columns = [map(conll_token, tokens), tags]
    if scores is not None:
        columns.append(f"{score:.{SCORE_DIGITS}f}" for score in scores)
    lines = ("\t".join(fields) + "\n" for fields in zip(*columns, strict=True))
    return "".join(lines) + "\n"


def format_jsonl(
    predictor: Predictor, tokens: list[str], tags: list[str], scores: list[float] | None = None
) -> str:
    """One JSON object per sentence: tokens, tags and spans (``end`` exclusive); with
    ``scores``, a ``scores`` list (one a token) and a ``score`` per span."""
    record: dict = {"tokens": tokens, "tags": tags}
    if scores is not None:
        record["scores"] = [round(score, SCORE_DIGITS) for score in scores]
    record["spans"] = predictor.spans(tokens, tags, scores)
    for span in record["spans"]:
        if "score" in span:
            span["score"] = round(span["score"], SCORE_DIGITS)
    if isinstance(tokens, LineTokens):  # raw text: where the tokens and spans are in its line
        tokens.add_offsets(record)
    return json.dumps(record, ensure_ascii=False) + "\n"


def check_output(output: str | None, sources: list[str]) -> None:
    """Fail before loading the model on an output path that cannot work, and refuse one that is
    also an input (it would be overwritten before it is read)."""
    if output is None:
        return
    target = Path(output).resolve()
    if target.is_dir():
        raise InputError(f"--output {output}: is a folder (expected a file name)")
    if not target.parent.is_dir():
        raise InputError(f"--output {output}: folder {target.parent} does not exist")
    for source in sources:
        if source != STDIN and Path(source).resolve() == target:
            raise InputError(
                f"--output {output}: is also an input file (it would be overwritten); "
                "write the predictions to another file"
            )


def replaceable_file(path: str) -> Path | None:
    """The regular file ``path`` names, links resolved (it may not exist yet), for a run to
    replace; None for what is written through: a FIFO, a device, a socket, or a process's open
    file (``/dev/stdout``, ``/proc/self/fd/1``, a link to one). Replacing those would leave their
    reader waiting, put a file where a device or a link was, or drop what a file appended to by
    ``>>`` held."""
    if _leads_to_a_descriptor(path):
        return None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # a new file (through a dangling link: its target)
    return Path(os.path.realpath(path)) if stat.S_ISREG(mode) else None


def _leads_to_a_descriptor(path: str) -> bool:
    """Whether ``path``, or a link on the way from it, is under ``/proc`` or ``/dev/fd``: a
    process's file descriptor (``os.path.realpath`` would give the file it has open, if any)."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if current.startswith(("/proc/", "/dev/fd/")):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return False


@contextmanager
def open_output(path: str | None) -> Iterator[IO[str]]:
    """stdout; for a regular file, a temporary file beside it that replaces it when the run
    succeeds or is interrupted (Ctrl-C), so a failed run leaves an existing file as it was and an
    interrupted one leaves the sentences written so far, each whole (the caller writes whole
    sentences only: :class:`~seqtagger.inference.interrupt.WholeSentences`); a link to a file
    stays a link and the file it names is replaced. Anything else is written through
    (:func:`replaceable_file`)."""
    if path is None:
        yield sys.stdout
        return
    target = replaceable_file(path)
    if target is None:  # appending writes where the descriptor is, as the shell's `>>` or `>`
        with open(path, "a", encoding="utf-8") as f:
            yield f
        return
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(fd, file_mode(target))  # mkstemp makes it private (0600)
        with open(fd, "w", encoding="utf-8") as f:
            yield f
    except KeyboardInterrupt:
        os.replace(temporary, target)  # hours of tagging are kept, not thrown away
        raise
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    os.replace(temporary, target)
