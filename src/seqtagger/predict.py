"""``seqtagger-predict``: tag raw text or corpus files with a trained checkpoint, as a filter.

    seqtagger-predict --ckpt last.ckpt notes.txt > notes.conll
    cat news.txt | seqtagger-predict --ckpt last.ckpt --format jsonl
    seqtagger-predict --ckpt last.ckpt test.conllu --output pred.conll --device cuda

Why plain argparse and not Hydra (as ``seqtagger-train``/``-eval`` use): this is a Unix filter.
It reads stdin, writes stdout and must not create run folders, change the working directory,
log config dumps or print anything but predictions on stdout; none of its options need config
composition. Hydra would fight all of that.

Streaming end to end: inputs are read by generators, :meth:`Predictor.predict_stream` reads a
bounded window at a time, and each sentence is written as soon as it is tagged, so memory stays
flat on a file of any size and output order equals input order. Errors in the input (a missing
file, a malformed CoNLL or JSONL line, a file without sentences) end the run with one message
on stderr naming the file (and line) and exit code 2; sentences before the error have been
written already to stdout. ``--output`` is written to a temporary file beside it that replaces
it only when the run succeeds; an output path that is also an input is refused. Up to
``--window`` sentences are read before the first is written: for interactive use on a terminal
pass ``--window 1``.

Input formats (``--input-format``):

- ``text``: one sentence (or paragraph) per line, tokenised by :func:`seqtagger.data.tokenizer.
  tokenize` (rules in its docstring). Blank lines are skipped and counted in the summary.
- ``tokens``: one pre-tokenised sentence per line, tokens separated by whitespace.
- ``conll`` / ``conllu`` / ``jsonl``: read by the corpus readers (tags, if any, are ignored).
  From stdin these are first copied to a temporary file (the readers take a path).
- ``auto`` (default): stdin is ``text``; a file by suffix: ``.conllu`` -> conllu, ``.jsonl``,
  ``.ndjson``, ``.json`` -> jsonl, ``.conll`` -> conll; any other suffix (``.txt``, ...) is
  conll when its first non-empty line starts with ``-DOCSTART-``, or when its first block of
  lines (up to the first blank line) has at least two lines that all have the same number
  (2 to 10) of whitespace-separated columns and whose last column looks like tags (no
  lowercase letter and no digit, like ``O``, ``NNP``, ``.``, or ``B-``/``I-``/``E-``/``S-``
  and a type); else text. So ``Meeting notes`` / ``John Smith`` is text. Pass
  ``--input-format`` when in doubt. The CoNLL reader then requires the same number of
  columns on every token line and names the first line that differs.

Output (``--format``): ``conll`` writes ``token<TAB>tag`` lines and a blank line after each
sentence; whitespace inside a token (a CoNLL-U FORM like ``1 000``) is written as ``_``
(:func:`seqtagger.metrics.conlleval.conll_token`), as in eval's ``predictions.conll``.
``jsonl`` writes ``{"tokens", "tags", "spans"}`` per line (tokens as read), spans from
:meth:`Predictor.spans` (the metric's span code; ``end`` exclusive).

Progress (sentences and sentences/s) goes to stderr only, when stderr is a terminal or an
input file is larger than 1 MB, unless ``--no-progress``; a one-line summary always ends the
run on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from seqtagger.data.schemes import SCHEMES
from seqtagger.data.tokenizer import tokenize
from seqtagger.metrics.conlleval import conll_token

if TYPE_CHECKING:
    from seqtagger.predictor import Predictor

PROG = "seqtagger-predict"
STDIN = "-"
INPUT_FORMATS = ("auto", "text", "tokens", "conll", "conllu", "jsonl")
READER_FORMATS = ("conll", "conllu", "jsonl")
SUFFIX_FORMATS = {
    ".conllu": "conllu",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".conll": "conll",
}
PROGRESS_MIN_BYTES = 1 << 20  # show progress for input files larger than this
DETECT_MAX_LINES = 100
_CHUNK_TAG = re.compile(r"[BIES]-\S+")


class InputError(Exception):
    """Bad input or options: reported as one line on stderr with exit code 2."""


@dataclass
class Stats:
    """Counts for the final summary line."""

    sentences: int = 0
    tokens: int = 0
    blank_lines: int = 0
    seconds: float = 0.0  # reading, tagging and writing; the model load is not counted


# --------------------------------------------------------------------------- arguments


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Tag text or corpus files with a trained seqtagger checkpoint.",
    )
    add = parser.add_argument
    add("--ckpt", required=True, help="checkpoint file written by seqtagger-train")
    add("inputs", nargs="*", metavar="INPUT", help="input files; stdin when none or '-'")
    add("--format", choices=("conll", "jsonl"), default="conll", help="output format")
    add("--input-format", choices=INPUT_FORMATS, default="auto", help="input format")
    add("--output", "-o", help="output file (default: stdout)")
    add("--batch-size", type=_positive_int, default=64, help="sentences per forward pass")
    add("--window", type=_positive_int, default=4096, help="sentences read ahead and sorted")
    add("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run")
    add("--scheme", choices=SCHEMES, help="output tag scheme (default: the training file's)")
    add("--no-progress", action="store_true", help="never show progress on stderr")
    return parser


# --------------------------------------------------------------------------- input


def detect_format(source: str) -> str:
    """The input format of ``source`` for ``--input-format auto`` (rules: module docstring)."""
    if source == STDIN:
        return "text"
    suffix = Path(source).suffix.lower()
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix]
    return "conll" if _looks_like_conll(_first_block(Path(source))) else "text"


def _first_block(path: Path) -> list[str]:
    """The first non-empty lines of ``path`` up to a blank line (at most DETECT_MAX_LINES)."""
    block: list[str] = []
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for line in lines:
            if line.strip():
                block.append(line)
            elif block:
                break
            if len(block) >= DETECT_MAX_LINES:
                break
    return block


def _looks_like_conll(block: list[str]) -> bool:
    if block and block[0].startswith("-DOCSTART-"):
        return True
    rows = [line.split() for line in block]
    widths = {len(row) for row in rows}
    if len(block) < 2 or len(widths) != 1 or not 2 <= widths.pop() <= 10:
        return False
    return all(_looks_like_tag(row[-1]) for row in rows)


def _looks_like_tag(word: str) -> bool:
    """``O``, ``NNP``, ``.``, ``B-PER``, ``I-location``: not a word of text like ``Smith``."""
    plain = not any(c.islower() or c.isdigit() for c in word)
    return plain or _CHUNK_TAG.fullmatch(word) is not None


def check_inputs(sources: list[str]) -> None:
    """Fail early, before loading the model, when an input file does not exist."""
    for source in sources:
        if source == STDIN:
            continue
        path = Path(source)
        if not path.exists():
            raise InputError(f"{source}: no such input file")
        if path.is_dir():
            raise InputError(f"{source}: is a folder (expected an input file)")


def iter_input(sources: list[str], input_format: str, stats: Stats) -> Iterator[list[str]]:
    """Token lists of every sentence of ``sources`` in order, read lazily."""
    for source in sources:
        fmt = detect_format(source) if input_format == "auto" else input_format
        count = stats.sentences
        for tokens in _iter_source(source, fmt, stats):
            stats.sentences += 1
            stats.tokens += len(tokens)
            yield tokens
        if stats.sentences == count:
            raise InputError(f"no sentences in {_name(source)}")


def _name(source: str) -> str:
    return "<stdin>" if source == STDIN else source


def _iter_source(source: str, fmt: str, stats: Stats) -> Iterator[list[str]]:
    if fmt in READER_FORMATS:
        return _iter_reader(source, fmt)
    return _iter_lines(source, fmt == "text", stats)


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
            f"{_name(source)}:{lineno}: not valid UTF-8 (byte {line[err.start]:#04x} at column "
            f"{err.start + 1})"
        ) from None


def _iter_reader(source: str, fmt: str) -> Iterator[list[str]]:
    """Sentences of a corpus file through the readers; stdin is spooled to a temporary file."""
    # Imported here: ``datasets`` takes most of a second, not needed for text input or --help.
    from seqtagger.data.readers import ConllReader, ConlluReader, CorpusFormatError, JsonReader

    reader = {"conll": ConllReader, "conllu": ConlluReader, "jsonl": JsonReader}[fmt]()
    with _as_path(source, fmt) as path:
        try:
            for sentence in reader.iter_sentences(path, require_tags=False):
                yield sentence["tokens"]
        except CorpusFormatError as err:
            raise InputError(str(err).replace(str(path), _name(source))) from None


@contextmanager
def _as_path(source: str, fmt: str) -> Iterator[Path]:
    """``source`` as a file path; stdin is copied (in chunks) to a temporary file first."""
    if source != STDIN:
        yield _non_empty(Path(source), source)
        return
    with tempfile.TemporaryDirectory(prefix="seqtagger-predict-") as folder:
        path = Path(folder) / f"stdin.{fmt}"
        stream = getattr(sys.stdin, "buffer", None)
        with path.open("wb") if stream else path.open("w", encoding="utf-8") as out:
            shutil.copyfileobj(stream or sys.stdin, out)
        yield _non_empty(path, source)


def _non_empty(path: Path, source: str) -> Path:
    if path.stat().st_size == 0:
        raise InputError(f"no sentences in {_name(source)} (empty input)")
    return path


# --------------------------------------------------------------------------- output


def tag_stream(
    predictor: Predictor, sentences: Iterable[list[str]]
) -> Iterator[tuple[list[str], list[str]]]:
    """``(tokens, tags)`` per sentence, in input order, as soon as each is tagged.

    ``predict_stream`` yields tags only; the tokens it has read but not yet tagged wait in a
    queue (at most about one window of them), so no copy of the input is kept.
    """
    waiting: deque[list[str]] = deque()

    def remember() -> Iterator[list[str]]:
        for tokens in sentences:
            waiting.append(tokens)
            yield tokens

    for tags in predictor.predict_stream(remember()):
        yield waiting.popleft(), tags


def format_conll(tokens: list[str], tags: list[str]) -> str:
    """``token<TAB>tag`` lines and a blank line that ends the sentence (whitespace inside a token
    becomes ``_``: :func:`~seqtagger.metrics.conlleval.conll_token`)."""
    lines = (f"{conll_token(token)}\t{tag}\n" for token, tag in zip(tokens, tags, strict=True))
    return "".join(lines) + "\n"


def format_jsonl(predictor: Predictor, tokens: list[str], tags: list[str]) -> str:
    """One JSON object per sentence: tokens, tags and spans (``end`` exclusive)."""
    record = {"tokens": tokens, "tags": tags, "spans": predictor.spans(tokens, tags)}
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


@contextmanager
def _open_output(path: str | None) -> Iterator[IO[str]]:
    """stdout, or a temporary file beside ``path`` that replaces ``path`` only when the run
    succeeds, so a failed run leaves an existing ``path`` as it was."""
    if path is None:
        yield sys.stdout
        return
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(fd, _file_mode(target))  # mkstemp makes it private (0600)
        with open(fd, "w", encoding="utf-8") as f:
            yield f
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _file_mode(path: Path) -> int:
    """The mode ``path`` has, or the one a new file gets (0666 less the umask)."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --------------------------------------------------------------------------- progress


class Progress:
    """Sentences done and sentences/s on stderr: a rich bar on a terminal (redrawn every 0.1 s),
    else a plain line every ``every_s`` seconds (a bar cannot redraw in a log file)."""

    def __init__(self, enabled: bool, every_s: float = 10.0) -> None:
        self.done = 0
        self.start = self.last = time.monotonic()
        self.enabled = enabled
        self.bar: Any = _rich_bar() if enabled and sys.stderr.isatty() else None
        self.task = self.bar.add_task("tagging", total=None) if self.bar else None
        self.every_s = 0.1 if self.bar else every_s

    def advance(self) -> None:
        """Count one sentence; refresh the display when it is due."""
        self.done += 1
        now = time.monotonic()
        if not self.enabled or now - self.last < self.every_s:
            return
        self.last = now
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        else:
            print(f"{PROG}: {self.done:,} sentences, {self.rate():,.0f}/s", file=sys.stderr)

    def rate(self) -> float:
        """Sentences per second since the start."""
        return self.done / max(time.monotonic() - self.start, 1e-9)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _rich_bar() -> Any:
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        # Mean since the start: rich's own task.speed averages its last 1000 updates only,
        # which here are one burst of sentences (a window is tagged before any is written).
        def render(self, task: Any) -> Text:
            rate = task.completed / max(task.elapsed or 0, 1e-9)
            return Text(f"{rate:,.0f} sentences/s", style="progress.data.speed")

    columns = (SpinnerColumn(), TextColumn("{task.completed:,.0f} sentences"), RateColumn())
    bar = RichProgress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    bar.start()
    return bar


def _wants_progress(args: argparse.Namespace) -> bool:
    # Predictions scrolling on the terminal are progress enough (and would break a bar).
    if args.no_progress or (args.output is None and sys.stdout.isatty()):
        return False
    files = [Path(s) for s in args.inputs if s != STDIN]
    return sys.stderr.isatty() or any(p.stat().st_size > PROGRESS_MIN_BYTES for p in files)


# --------------------------------------------------------------------------- main


def load_predictor(args: argparse.Namespace) -> Predictor:
    """The checkpoint's ``Predictor`` on the chosen device; bad checkpoints -> InputError."""
    # Imported here so that --help and input errors do not wait for torch and lightning.
    import torch

    from seqtagger.errors import CheckpointError
    from seqtagger.predictor import Predictor

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu)")
    device = None if args.device == "auto" else args.device
    options = {"batch_size": args.batch_size, "window": args.window, "scheme": args.scheme}
    try:
        predictor = Predictor.from_checkpoint(args.ckpt, device=device, **options)
    except CheckpointError as err:
        raise InputError(str(err)) from None
    # Checked here: convert_tags would only fail on the first sentence, after the model load.
    if (predictor.scheme == "plain") != (predictor.train_scheme == "plain"):
        raise InputError(
            f"--scheme {predictor.scheme}: the checkpoint was trained with scheme "
            f"{predictor.train_scheme} (plain tags cannot be converted to or from chunk tags)"
        )
    return predictor


def run(args: argparse.Namespace) -> Stats:
    """Tag every input sentence and write it out; returns the counts."""
    sources = args.inputs or [STDIN]
    check_inputs(sources)
    check_output(args.output, sources)
    predictor = load_predictor(args)
    stats = Stats()
    start = time.monotonic()
    sentences = iter_input(sources, args.input_format, stats)
    with ExitStack() as stack:
        out = stack.enter_context(_open_output(args.output))
        progress = Progress(_wants_progress(args))
        stack.callback(progress.close)
        for tokens, tags in tag_stream(predictor, sentences):
            if args.format == "jsonl":
                out.write(format_jsonl(predictor, tokens, tags))
            else:
                out.write(format_conll(tokens, tags))
            progress.advance()
        out.flush()
    stats.seconds = time.monotonic() - start
    return stats


def _summary(stats: Stats) -> str:
    rate = stats.sentences / max(stats.seconds, 1e-9)
    return (
        f"{PROG}: tagged {stats.sentences:,} sentences ({stats.tokens:,} tokens) in "
        f"{stats.seconds:.2f} s ({rate:,.0f} sentences/s); skipped {stats.blank_lines:,} "
        "blank lines"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or options)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error (or --help)
        return int(exit_.code or 0)
    try:
        stats = run(args)
    except InputError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `| head`: the reader is gone, that is not an error
        _silence_stdout()
        return 0
    except OSError as err:  # cannot read or write a file
        where = f"{err.filename}: {err.strerror}" if err.filename else str(err)
        print(f"{PROG}: error: {where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(_summary(stats), file=sys.stderr)
    return 0


def _silence_stdout() -> None:
    """Point stdout at devnull so Python's exit-time flush does not raise again."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
