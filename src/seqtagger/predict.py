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
on stderr naming the file (and line) and exit code 2 (``seqtagger.utils.cli``, as train and
eval); sentences before the error have been written already to stdout. ``--output`` naming a
file (or a link to one) is written to a temporary file beside the file that replaces it only
when the run succeeds or is interrupted (Ctrl-C: it then holds the sentences written so far, each
whole, and the message says how many); a FIFO, a device or ``/proc/self/fd/N`` is written
through (``seqtagger.inference.outputs.open_output``); an output path that is also an input is
refused. From a file, up to ``--window`` sentences are read before the first is written; from a
pipe or a terminal each sentence is written as soon as it is tagged (``inference/read_ahead.py``),
and for a model with a document memory each document when it ends (``inference/paragraphs.py``).

Input formats and their detection: :mod:`seqtagger.inference.inputs`; the formats the corpus
readers know come from their table (:data:`seqtagger.data.readers.FORMATS`), so predict reads
everything train and eval read. Output formats: :mod:`seqtagger.inference.outputs`. Progress
(sentences and sentences/s) goes to stderr only, when stderr is a terminal or an input file is
larger than 1 MB, and a one-line summary ends a successful run there; ``--no-progress`` turns
both off, leaving stderr to errors and to the message of an interrupted run. ``-q/--quiet``
also silences warnings (errors only); ``-v/--verbose`` names the model's device and schemes and
shows progress whatever stderr is.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from seqtagger.data.schemes import SCHEMES
from seqtagger.errors import InputError
from seqtagger.inference import PROG
from seqtagger.inference.inputs import INPUT_FORMATS, STDIN, Stats, check_inputs, iter_input
from seqtagger.inference.interrupt import PredictionInterrupted, WholeSentences
from seqtagger.inference.outputs import OUTPUT_FORMATS, check_output, formatted, open_output
from seqtagger.inference.paragraphs import iter_paragraphs, reads_lines, waiting_documents
from seqtagger.inference.progress import Progress, counted
from seqtagger.inference.read_ahead import ReadAhead
from seqtagger.utils.cli import report_user_error
from seqtagger.utils.console import QUIET, VERBOSE, add_verbosity_flags, set_console_verbosity

if TYPE_CHECKING:
    from seqtagger.inference.base import PredictorBase

PROGRESS_MIN_BYTES = 1 << 20  # show progress for input files larger than this
READ_AHEAD_DOCUMENTS = 64  # documents (or pieces) read ahead of the model on a stream


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
    add(
        "--ckpt",
        required=True,
        help="checkpoint file written by seqtagger-train (--backend onnx: the .onnx file "
        "written by seqtagger-export)",
    )
    add(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="run the model with PyTorch, or run its exported graph with onnxruntime (CPU)",
    )
    add("inputs", nargs="*", metavar="INPUT", help="input files; stdin when none or '-'")
    add("--format", choices=OUTPUT_FORMATS, default="conll", help="output format")
    add("--input-format", choices=INPUT_FORMATS, default="auto", help="input format")
    add("--output", "-o", help="output file (default: stdout)")
    add("--batch-size", type=_positive_int, default=64, help="sentences per forward pass")
    add("--window", type=_positive_int, default=4096, help="sentences read ahead and sorted")
    add("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run")
    add("--scheme", choices=SCHEMES, help="output scheme of span tags (default: iob2)")
    add("--vectors", metavar="FOLDER", help="the vector store's folder, if it moved since training")
    add("--no-progress", action="store_true", help="no progress and no summary on stderr")
    add_verbosity_flags(
        parser,
        quiet="errors only on stderr: no progress, no summary, no warnings",
        verbose="also name the model's device and schemes, and show progress in a log file too",
    )
    add(
        "--sentence-per-line",
        action="store_true",
        help="raw text: each line is one sentence (default: lines are split into sentences)",
    )
    add("--scores", action="store_true", help="add each tag's probability and each span's score")
    add(
        "--tasks",
        type=_task_names,
        metavar="TASK,...",
        help="a model of several tasks: the tasks to tag, comma-separated (default: all)",
    )
    return parser


def _task_names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected task names separated by commas, got {value!r}")
    return names


def load_predictor(args: argparse.Namespace) -> PredictorBase:
    """The checkpoint's ``Predictor`` on the chosen device, or the exported graph's
    ``OnnxPredictor`` (``--backend onnx``, without torch); bad checkpoints: CheckpointError."""
    options = {"batch_size": args.batch_size, "window": args.window, "scheme": args.scheme}
    options["tasks"] = args.tasks
    if args.backend == "onnx":
        predictor = _onnx_predictor(args, options)
    else:
        # Imported here so that --help and input errors do not wait for torch.
        import torch

        from seqtagger.inference import Predictor

        if args.device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is available (use --device cpu)")
        device = None if args.device == "auto" else args.device
        predictor = Predictor.from_checkpoint(
            args.ckpt, args.vectors, named_by="--ckpt", device=device, **options
        )
    # Checked here: convert_tags would only fail on the first sentence, after the model load.
    if (predictor.scheme == "plain") != (predictor.train_scheme == "plain"):
        raise InputError(
            f"--scheme {predictor.scheme}: the checkpoint was trained with scheme "
            f"{predictor.train_scheme} (plain tags cannot be converted to or from chunk tags)"
        )
    return predictor


def _onnx_predictor(args: argparse.Namespace, options: dict) -> PredictorBase:
    """``--backend onnx``: the exported graph ``--ckpt`` names, run by onnxruntime."""
    given = [
        flag
        for flag, value in (("--device", args.device), ("--vectors", args.vectors))
        if value not in (None, "auto", "cpu")
    ]
    if given:
        raise InputError(
            f"{given[0]}: --backend onnx runs the exported graph on the CPU, with the vectors "
            "it holds; leave it out"
        )
    from seqtagger.export.runtime import OnnxPredictor

    return OnnxPredictor(args.ckpt, **options)


def _wants_progress(args: argparse.Namespace) -> bool:
    # Predictions scrolling on the terminal are progress enough (and would break a bar).
    if args.no_progress or args.verbosity == QUIET:
        return False
    if args.verbosity == VERBOSE:
        return True
    if args.output is None and sys.stdout.isatty():
        return False
    files = [Path(s) for s in args.inputs if s != STDIN]
    return sys.stderr.isatty() or any(p.stat().st_size > PROGRESS_MIN_BYTES for p in files)


def _streamed(sources: list[str]) -> bool:
    """Whether an input is a pipe or a terminal (not a regular file), whose sentences are then
    tagged and written one by one as they arrive."""
    for source in sources:
        try:
            found = os.fstat(sys.stdin.fileno()) if source == STDIN else os.stat(source)
        except (OSError, ValueError):  # no descriptor (stdin replaced in tests): read it whole
            continue
        if not stat.S_ISREG(found.st_mode):
            return True
    return False


def run(args: argparse.Namespace) -> Stats:
    """Tag every input sentence and write it out; returns the counts."""
    sources = args.inputs or [STDIN]
    check_inputs(sources, args.input_format)
    check_output(args.output, sources)
    predictor = load_predictor(args)
    if args.verbosity == VERBOSE:
        print(_described(args, predictor), file=sys.stderr)
    stats = Stats()
    start = time.monotonic()
    streamed = _streamed(sources)
    by_document = streamed and predictor.reads_documents
    by_document = by_document and reads_lines(sources, args.input_format)
    if by_document:  # a document memory: each document tagged and written when it ends
        paragraphs = iter_paragraphs(sources, args.input_format, stats, args.sentence_per_line)
        sentences = waiting_documents(ReadAhead(paragraphs, ahead=READ_AHEAD_DOCUMENTS))
    else:
        sentences = iter_input(sources, args.input_format, stats, args.sentence_per_line)
    if streamed and not by_document:  # each sentence is tagged and written as it arrives
        sentences = ReadAhead(sentences, ahead=args.window)
        predictor.input_waiting = sentences.waiting
    written = 0
    try:
        with ExitStack() as stack:
            out = stack.enter_context(open_output(args.output))
            progress = Progress(_wants_progress(args))
            stack.callback(progress.close)
            guard = stack.enter_context(WholeSentences())
            texts = formatted(predictor, sentences, args.format, args.scores, by_document)
            for text in texts:
                guard.begin_write()
                out.write(text)
                if streamed:
                    out.flush()
                written += 1
                guard.end_write()
                progress.advance()
            out.flush()
    except KeyboardInterrupt:
        raise PredictionInterrupted(written) from None
    stats.seconds = time.monotonic() - start
    return stats


def _described(args: argparse.Namespace, predictor: PredictorBase) -> str:
    """``--verbose``: the checkpoint, the device and the tag schemes of the run (and its tasks,
    for a model of several)."""
    tasks = ""
    if len(predictor.tasks) > 1:
        schemes = ", ".join(f"{name} in {scheme}" for name, scheme in predictor.schemes.items())
        tasks = f"; tasks {schemes}"
    return (
        f"{PROG}: {args.ckpt} on {predictor.device}: tags in {predictor.scheme} (trained in "
        f"{predictor.train_scheme}){tasks}, {args.batch_size} sentences a batch, window "
        f"{args.window}"
    )


def _summary(stats: Stats) -> str:
    rate = stats.sentences / max(stats.seconds, 1e-9)
    return (
        f"{PROG}: tagged {counted(stats.sentences, 'sentence')} "
        f"({counted(stats.tokens, 'token')}) in {stats.seconds:.2f} s ({rate:,.0f} sentences/s); "
        f"skipped {counted(stats.blank_lines, 'blank line')}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or options, 1 a bug)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error (or --help)
        return int(exit_.code or 0)
    set_console_verbosity(args.verbosity)
    try:
        stats = run(args)
    except BrokenPipeError:  # e.g. `| head`: the reader is gone, that is not an error
        _silence_stdout()
        return 0
    except KeyboardInterrupt as interrupt:
        print(_interrupted(args, interrupt), file=sys.stderr)
        return 130
    except Exception as error:
        if report_user_error(PROG, error):
            return 2
        if isinstance(error, OSError):  # stdin or stdout failed (disk full): not a bug
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 2
        raise
    if not args.no_progress and args.verbosity != QUIET:
        print(_summary(stats), file=sys.stderr)
    return 0


def _interrupted(args: argparse.Namespace, interrupt: KeyboardInterrupt) -> str:
    """What an interrupted run leaves: the whole sentences written before Ctrl-C."""
    if not isinstance(interrupt, PredictionInterrupted):
        return f"{PROG}: interrupted before any sentence was written"
    where = args.output or "stdout"
    return (
        f"{PROG}: interrupted: {where} holds the first {interrupt.written:,} sentences, each "
        "whole; rerun to tag the rest"
    )


def _silence_stdout() -> None:
    """Point stdout at devnull so Python's exit-time flush does not raise again."""
    with suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
