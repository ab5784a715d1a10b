"""``seqtagger-strip`` (``seqtagger strip``): a checkpoint with only what inference needs.

    seqtagger-strip logs/train/runs/ewt/checkpoints/best.ckpt -o ewt-upos.ckpt

A training checkpoint also holds what resuming needs: optimizer and scheduler states (Adam keeps
two more tensors per weight), the loops' progress, the callbacks' states and an average's raw
weights. The stripped file keeps the weights (``state_dict``), the hyperparameters the model is
rebuilt from, seqtagger's data record (vocabularies, schemes, featurizer) and Lightning's version
and step counters: ``seqtagger-eval``, ``seqtagger-predict``, ``Predictor.from_checkpoint`` and
``seqtagger-train train=false ckpt_path=...`` load it as they load the full file. Training cannot
resume from it (:func:`check_resumable` says so at start-up). The input is read through
:func:`~seqtagger.checkpoint.load_checkpoint`, so a file that is not a seqtagger checkpoint is
refused, and an older format is written in this seqtagger's. The output is written to a
temporary file beside it and renamed into place (``AtomicCheckpointIO``); a FIFO or a device is
written through.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from seqtagger.errors import CheckpointError, InputError
from seqtagger.utils.cli import report_user_error

PROG = "seqtagger-strip"
# what inference reads; Lightning's test stage also wants its version and the step counters
KEPT = (
    "state_dict",
    "hyper_parameters",
    "hparams_name",
    "seqtagger",
    "pytorch-lightning_version",
    "epoch",
    "global_step",
)
# what a resumed fit needs and a stripped checkpoint lacks
TRAINING_STATE = "optimizer_states"


def stripped(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The entries of a loaded checkpoint that inference needs (:data:`KEPT`)."""
    return {key: checkpoint[key] for key in KEPT if key in checkpoint}


def strip_checkpoint(source: str | Path, output: str | Path) -> tuple[int, int]:
    """Write ``source`` stripped to ``output``; returns both files' sizes in bytes."""
    from seqtagger.checkpoint import load_checkpoint
    from seqtagger.inference.outputs import replaceable_file
    from seqtagger.training.checkpoint_io import AtomicCheckpointIO

    check_output(source, output)
    checkpoint = stripped(load_checkpoint(source, named_by="CKPT"))
    target = replaceable_file(str(output))
    if target is None:  # a FIFO, a device, a process's descriptor: written through
        import torch

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with open(output, "ab") as out:
            out.write(buffer.getbuffer())
        return Path(source).stat().st_size, buffer.getbuffer().nbytes
    AtomicCheckpointIO().save_checkpoint(checkpoint, target)
    return Path(source).stat().st_size, target.stat().st_size


def check_output(source: str | Path, output: str | Path) -> None:
    """Refuse an output that is a folder, lies in a missing folder, or is the input itself
    (stripping in place would lose the training state for good)."""
    target = Path(output)
    if target.is_dir():
        raise InputError(f"-o {output}: is a folder (expected a file name)")
    if not target.resolve().parent.is_dir():
        raise InputError(f"-o {output}: folder {target.resolve().parent} does not exist")
    if target.exists() and Path(source).exists() and target.samefile(source):
        raise InputError(
            f"-o {output}: is the checkpoint being stripped; write to another file and keep "
            "the full one to resume from"
        )


def check_resumable(ckpt_path: str | Path) -> None:
    """Refuse, before training starts, to resume from a checkpoint without training state (a
    stripped one, or one saved with ``save_weights_only``): Lightning fails on it deep inside."""
    import torch

    try:  # mapped, not read: only the keys are looked at
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # a file of torch's legacy format cannot be mapped
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and TRAINING_STATE not in checkpoint:
        raise CheckpointError(
            f"ckpt_path={ckpt_path}: holds the weights only (stripped, or saved with "
            "save_weights_only), not the optimizer and loop states a resumed run continues "
            "from: resume from the run's checkpoints/last.ckpt, or test this one with "
            "train=false"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write a checkpoint with only what inference needs (weights, "
        "hyperparameters, vocabularies): no optimizer, loop or callback states.",
    )
    parser.add_argument(
        "checkpoint", metavar="CKPT", help="a checkpoint written by seqtagger-train"
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the file to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or options, 1 a bug)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error (or --help)
        return int(exit_.code or 0)
    try:
        before, after = strip_checkpoint(args.checkpoint, args.output)
    except Exception as error:
        if report_user_error(PROG, error):
            return 2
        raise
    print(
        f"{PROG}: wrote {args.output}: {readable_size(after)} (from {readable_size(before)}, "
        f"{1 - after / max(before, 1):.0%} smaller)",
        file=sys.stderr,
    )
    return 0


def readable_size(size: int) -> str:
    """``412 kB``, ``93.7 MB``."""
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


if __name__ == "__main__":
    sys.exit(main())
