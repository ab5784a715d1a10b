"""``seqtagger-calibrate`` (``seqtagger calibrate``): fit a checkpoint's temperatures on a dev set
and store them in it.

    seqtagger-calibrate logs/train/runs/ewt/checkpoints/best.ckpt            # the run's dev set
    seqtagger-calibrate tagger.ckpt --set gum-dev.conllu --scheme plain      # a file

One temperature per task, fitted on the set by the likelihood of its gold tags
(``seqtagger.calibration.temperature``); the tags the model returns never change. ``--set dev``
(the default) reads the dev split of the run that wrote the checkpoint, from its ``config.yaml``
beside the ``checkpoints`` folder; any other value is a file in a format the readers know, in
``--scheme`` (default: the scheme of the training files). The checkpoint is rewritten through a
temporary file, its mode kept; ``best.ckpt``, a link, stays one. Bad input ends in one message
and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seqtagger.data.schemes import SCHEMES
from seqtagger.utils.cli import run_command

__all__ = ["PROG", "build_parser", "main"]

PROG = "seqtagger-calibrate"
DEV_NAMES = ("dev", "validation")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit one temperature per task on a dev set and store it in the checkpoint "
        "(the confidences of seqtagger-predict --scores and Predictor.predict_scored use it).",
    )
    add = parser.add_argument
    add("checkpoint", metavar="CKPT", help="checkpoint file written by seqtagger-train")
    add(
        "--set",
        default="dev",
        metavar="dev|FILE",
        help="dev: the training run's dev split (default); else a file with gold tags",
    )
    add(
        "--scheme",
        choices=SCHEMES,
        help="the tag scheme of --set FILE (default: the training files')",
    )
    add("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run")
    add("--batch-size", type=_positive, default=64, metavar="N", help="sentences per batch")
    add("--vectors", metavar="FOLDER", help="the vector store's folder, if it moved since training")
    return parser


def _positive(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1")
    return value


def run(args: argparse.Namespace) -> int:
    """Fit, store, and say what changed on stderr."""
    # imported here so that --help and option errors do not wait for torch
    import torch

    from seqtagger.calibration.store import fit_on_set, write_calibration
    from seqtagger.errors import InputError
    from seqtagger.inference import Predictor
    from seqtagger.models.trained import TrainedTagger

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available (use --device cpu)")
    model = TrainedTagger.from_checkpoint(args.checkpoint, vectors=args.vectors, named_by="CKPT")
    device = None if args.device == "auto" else args.device
    predictor = Predictor(model, device=device, batch_size=args.batch_size)
    held_out, name = chosen_set(args, predictor.task)
    result = fit_on_set(predictor, model.tagger, held_out, name)
    written = write_calibration(args.checkpoint, result.record)
    print(f"{PROG}: wrote the temperatures into {written}", file=sys.stderr)
    print(result.summary(), file=sys.stderr)
    return 0


def chosen_set(args: argparse.Namespace, primary: Any) -> tuple[Any, str]:
    """The held-out set ``--set`` names and the name the record gives it: ``dev`` for the run's
    dev split, else the file's name (its tags in ``--scheme``, default: the ``primary`` task's
    file scheme)."""
    from seqtagger.calibration.sets import run_split
    from seqtagger.data.schemes import convertible_schemes
    from seqtagger.errors import ConfigError
    from seqtagger.evaluation.sets import held_out_from_file

    if args.set in DEV_NAMES:
        if args.scheme:
            raise ConfigError(
                f"--scheme {args.scheme}: only for --set FILE (the run's "
                f"{args.set} set is read in its training scheme)"
            )
        return run_split(args.checkpoint, "validation", "dev"), "dev"
    path = Path(args.set)
    if not path.is_file():
        raise ConfigError(f"--set {args.set}: no such file (give `dev` or a file with gold tags)")
    scheme = args.scheme or primary.file_scheme
    fitting = convertible_schemes(primary.train_scheme)
    if scheme not in fitting:
        predicts = "plain labels (POS)" if primary.train_scheme == "plain" else "chunk tags (NER)"
        raise ConfigError(
            f"--scheme {scheme}: the model predicts {predicts}, which cannot be fitted on "
            f"{scheme} tags; give --set a file tagged for this model, with --scheme "
            f"{' or '.join(fitting)}"
        )
    return held_out_from_file("set", path, scheme), path.name


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or options, 1 a bug)."""
    return run_command(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
