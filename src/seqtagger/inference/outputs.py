"""The output of ``seqtagger-predict``: tagged sentences in input order, as CoNLL, CoNLL-U or
JSONL, to stdout or to a file that is replaced only when the run succeeds or is interrupted (a
FIFO, a device or ``/proc/self/fd/N`` is written through, as a shell's ``>`` writes it).

``conll`` writes ``token<TAB>tag`` lines and a blank line after each sentence; whitespace inside
a token (a CoNLL-U FORM like ``1 000``) is written as ``_``
(:func:`seqtagger.metrics.conlleval.conll_token`), as in eval's ``predictions.conll``. ``jsonl``
writes ``{"tokens", "tags", "spans"}`` per line (tokens as read), spans from
:meth:`Predictor.spans` (the metric's span code; ``start``/``end``: token indices, ``end``
exclusive); on raw text also ``line`` (from 1) and ``char_start``/``char_end``, per token (lists)
and per span: character offsets in that line, ``line[char_start:char_end]`` being the token's or
span's own characters. With ``--scores`` each tag's probability (``seqtagger.inference.scores``,
4 decimals) is a third CoNLL column, and JSONL gets a ``scores`` list and a ``score`` per span.
``conllu`` writes the ten CoNLL-U fields: ``ID``, ``FORM`` and the tags (below), ``_`` elsewhere.

A model of several tasks tags every layer (``--tasks``: those named): CoNLL gets a tag column per
task, in the model's order, under a ``# columns = token <task> ...`` comment; JSONL keeps
``tags`` and ``spans`` for the primary task (the headline, or the first of ``--tasks``) and adds
``layers``: ``{task: {"tags": [...], "spans": [...]}}`` (``spans`` for span tasks only).
CoNLL-U puts a task whose column or name is ``upos``, ``xpos`` or ``feats`` in that field and any
other as ``<task>=<tag>`` in ``MISC`` (so does the one task of a model without ``data.tasks``,
named ``tags``).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from seqtagger.data.schemes import get_spans
from seqtagger.errors import InputError
from seqtagger.inference.inputs import STDIN, LineTokens
from seqtagger.inference.records import span_record
from seqtagger.metrics.conlleval import conll_token
from seqtagger.utils.files import file_mode

if TYPE_CHECKING:
    from seqtagger.data.tasks import Task
    from seqtagger.inference.base import PredictorBase

OUTPUT_FORMATS = ("conll", "conllu", "jsonl")
SCORE_DIGITS = 4  # decimals of the scores written (--scores)
CONLLU_FIELDS = ("upos", "xpos", "feats")  # the CoNLL-U fields a task's tags can fill
MISC = "misc"


def formatted(
    predictor: PredictorBase,
    sentences: Iterable[tuple[list[str], int]] | Iterable[list[tuple[list[str], int]]],
    fmt: str,
    scored: bool = False,
    by_document: bool = False,
) -> Iterator[str]:
    """Each ``(tokens, document)`` input, tagged, as the text of output format ``fmt``, in
    input order (the first one after the ``# columns`` comment of a CoNLL output of several
    tasks); ``scored``: with each tag's probability (``--scores``: one task, not CoNLL-U).
    ``by_document``: ``sentences`` are lists of whole documents' inputs, each list tagged as
    soon as it comes (``inference/paragraphs.py``)."""
    names = [task.name for task in predictor.tasks]
    several, primary = len(names) > 1, predictor.task.name
    if scored and fmt == "conllu":
        raise InputError("--scores: CoNLL-U has no field for scores; use --format conll or jsonl")
    if scored and several:
        raise InputError(
            f"--scores gives the probabilities of one task's tags: name one with --tasks "
            f"(the model's tasks: {', '.join(names)})"
        )
    header = conll_header(names) if several and fmt == "conll" else ""
    fields = conllu_fields(predictor.tasks)
    tagged = (
        chain.from_iterable(_tagged(predictor, chunk, scored) for chunk in sentences)  # type: ignore[arg-type]
        if by_document
        else _tagged(predictor, sentences, scored)  # type: ignore[arg-type]
    )
    for tokens, layers, scores in tagged:
        if fmt == "jsonl":
            text = format_jsonl(
                predictor, tokens, layers[primary], scores, layers if several else None
            )
        elif fmt == "conllu":
            text = format_conllu(tokens, layers, fields)
        elif several:
            text = format_conll_layers(tokens, layers)
        else:
            text = format_conll(tokens, layers[primary], scores)
        yield header + text
        header = ""


def _tagged(
    predictor: PredictorBase, sentences: Iterable[tuple[list[str], int]], scored: bool
) -> Iterator[tuple[list[str], dict[str, list[str]], list[float] | None]]:
    """``(tokens, {task: tags}, scores)`` per input sentence: every selected task's tags (one
    task: through ``predict_stream``, scores when ``scored``)."""
    if len(predictor.tasks) > 1:
        for tokens, layers in layer_stream(predictor, sentences):
            yield tokens, layers, None
        return
    for tokens, tags, scores in tag_stream(predictor, sentences, scored):
        yield tokens, {predictor.task.name: tags}, scores


def tag_stream(
    predictor: PredictorBase, sentences: Iterable[tuple[list[str], int]], scored: bool = False
) -> Iterator[tuple[list[str], list[str], list[float] | None]]:
    """``(tokens, tags, scores)`` per ``(tokens, document)`` input, in input order, as soon as
    each is tagged; ``scores`` (each tag's probability) only when ``scored``, else None.

    ``predict_stream`` yields tags only; the tokens it has read but not yet tagged wait in a
    queue (at most about one window of them), so no copy of the input is kept. The documents go
    to a model with document context or a document memory in step with the sentences (it reads
    a sentence, then its document).
    """
    if scored:
        for tokens, (tags, scores) in _beside_tokens(
            predictor, sentences, predictor.predict_scored_stream
        ):
            yield tokens, tags, scores
    else:
        for tokens, tags in _beside_tokens(predictor, sentences, predictor.predict_stream):
            yield tokens, tags, None


def layer_stream(
    predictor: PredictorBase, sentences: Iterable[tuple[list[str], int]]
) -> Iterator[tuple[list[str], dict[str, list[str]]]]:
    """``(tokens, {task: tags})`` per input sentence, every selected task, in input order (as
    :func:`tag_stream`)."""
    yield from _beside_tokens(predictor, sentences, predictor.predict_layers_stream)


def _beside_tokens(
    predictor: PredictorBase,
    sentences: Iterable[tuple[list[str], int]],
    tagger: Callable[[Iterator[list[str]], Iterator[int] | None], Iterator[Any]],
) -> Iterator[tuple[list[str], Any]]:
    """What ``tagger(sentences, documents)`` yields for each sentence, beside its tokens."""
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

    for tagged in tagger(remember(), their_documents() if context else None):
        yield waiting.popleft(), tagged


def format_conll(tokens: list[str], tags: list[str], scores: list[float] | None = None) -> str:
    """``token<TAB>tag`` lines (``<TAB>score`` added with ``scores``) and a blank line that ends
    the sentence (whitespace inside a token becomes ``_``:
    :func:`~seqtagger.metrics.conlleval.conll_token`)."""
    columns: list[Iterable[str]] = [tags]
    if scores is not None:
        columns.append(f"{score:.{SCORE_DIGITS}f}" for score in scores)
    return _conll_lines(tokens, columns)


def format_conll_layers(tokens: list[str], layers: Mapping[str, list[str]]) -> str:
    """``token<TAB>tag<TAB>tag...`` lines, a tag column per task in ``layers``' order, and a
    blank line that ends the sentence."""
    return _conll_lines(tokens, list(layers.values()))


def conll_header(tasks: Sequence[str]) -> str:
    """The comment that names the columns of :func:`format_conll_layers`."""
    return f"# columns = token {' '.join(tasks)}\n"


def _conll_lines(tokens: list[str], columns: Sequence[Iterable[str]]) -> str:
    rows = zip(map(conll_token, tokens), *columns, strict=True)
    lines = ("\t".join(fields) + "\n" for fields in rows)
    return "".join(lines) + "\n"


def conllu_fields(tasks: Sequence[Task]) -> dict[str, str]:
    """The CoNLL-U field of each task: ``upos``, ``xpos`` or ``feats`` for the first task whose
    column (else name) is that field, ``misc`` for the others."""
    fields: dict[str, str] = {}
    for task in tasks:
        field = next((name for name in (task.column, task.name) if name in CONLLU_FIELDS), MISC)
        fields[task.name] = field if field not in fields.values() else MISC
    return fields


def format_conllu(
    tokens: list[str], layers: Mapping[str, list[str]], fields: Mapping[str, str]
) -> str:
    """The sentence as CoNLL-U: ``ID FORM _ UPOS XPOS FEATS _ _ _ MISC`` per token (tabs and
    line ends inside a token become ``_``), each task's tags in its field of ``fields``, and a
    blank line."""
    lines = []
    for index, token in enumerate(tokens):
        values = dict.fromkeys(CONLLU_FIELDS, "_")
        misc = []
        for task, tags in layers.items():
            if fields[task] == MISC:
                misc.append(f"{task}={tags[index]}")
            else:
                values[fields[task]] = tags[index]
        form = "".join("_" if c in "\t\n\r" else c for c in token)
        row = [str(index + 1), form, "_", *values.values(), "_", "_", "_", "|".join(misc) or "_"]
        lines.append("\t".join(row) + "\n")
    return "".join(lines) + "\n"


def format_jsonl(
    predictor: PredictorBase,
    tokens: list[str],
    tags: list[str],
    scores: list[float] | None = None,
    layers: Mapping[str, list[str]] | None = None,
) -> str:
    """One JSON object per sentence: tokens, tags and spans (``end`` exclusive); with
    ``scores``, a ``scores`` list (one a token) and a ``score`` per span; with ``layers``
    (several tasks), ``layers``: each task's tags and, for a span task, its spans."""
    record: dict = {"tokens": tokens, "tags": tags}
    if scores is not None:
        record["scores"] = [round(score, SCORE_DIGITS) for score in scores]
    record["spans"] = predictor.spans(tokens, tags, scores)
    for span in record["spans"]:
        if "score" in span:
            span["score"] = round(span["score"], SCORE_DIGITS)
    if layers is not None:
        record["layers"] = {
            task: _layer_record(predictor, task, tokens, task_tags)
            for task, task_tags in layers.items()
        }
    if isinstance(tokens, LineTokens):  # raw text: where the tokens and spans are in its line
        tokens.add_offsets(record)
    return json.dumps(record, ensure_ascii=False) + "\n"


def _layer_record(
    predictor: PredictorBase, task: str, tokens: list[str], tags: list[str]
) -> dict[str, Any]:
    """One task's tags and, in a span scheme, its spans (as :meth:`Predictor.spans` gives)."""
    scheme = predictor.schemes[task]
    if scheme == "plain":
        return {"tags": tags}
    return {"tags": tags, "spans": [span_record(s, tokens) for s in get_spans(tags, scheme)]}


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
