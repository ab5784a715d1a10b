"""``seqtagger-export``: a trained checkpoint -> one ONNX graph and its JSON sidecar.

    seqtagger-export best.ckpt -o model.onnx                  # model.onnx, model.onnx.json
    seqtagger-export best.ckpt -o model-int8.onnx --quantize int8
    seqtagger-predict --backend onnx model.onnx notes.txt

The graph goes from featurized inputs to decoded tag ids per task (``export/graph.py``); a model
with a vector store keeps its weights beside it (``model.onnx.data``). After writing, the graph
is run by onnxruntime beside the PyTorch model on batches of other sizes and lengths than the
export example's, and the agreement is printed (``export/parity.py``): every tag the same for a
float32 graph but where PyTorch's two best paths tie, or the command fails. Bad input (a missing
checkpoint, an output folder that does not exist) ends with one message and exit code 2, as the
other commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seqtagger.errors import CheckpointError
from seqtagger.utils.cli import run_command
from seqtagger.utils.console import QUIET, set_console_verbosity

__all__ = ["PROG", "build_parser", "main"]

PROG = "seqtagger-export"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a trained seqtagger checkpoint to ONNX (graph + JSON sidecar).",
    )
    add = parser.add_argument
    add("checkpoint", metavar="CKPT", help="checkpoint file written by seqtagger-train")
    add("-o", "--output", required=True, metavar="MODEL.onnx", help="the ONNX file to write")
    add("--quantize", choices=("int8",), help="dynamic int8 quantization of the weights")
    add("--vectors", metavar="FOLDER", help="the vector store's folder, if it moved since training")
    add("--no-check", action="store_true", help="skip the parity check against PyTorch")
    add("-q", "--quiet", action="store_true", help="errors only on stderr")
    return parser


def run(args: argparse.Namespace) -> int:
    """Export, then check parity; returns the exit code (1: the graph's tags differ)."""
    # Imported here so that --help and option errors do not wait for torch.
    from seqtagger.export.exporter import export_module
    from seqtagger.export.parity import check_parity, parity_batches
    from seqtagger.export.session import OnnxTagger
    from seqtagger.lightning_module import TaggerModule

    if args.quiet:
        set_console_verbosity(QUIET)
    if not Path(args.checkpoint).is_file():
        raise CheckpointError(f"{args.checkpoint}: no such checkpoint file")
    module = TaggerModule.from_checkpoint(args.checkpoint, vectors=args.vectors, named_by="CKPT")
    result = export_module(module, args.output, quantize=args.quantize, source=str(args.checkpoint))
    say = print if not args.quiet else (lambda *_, **__: None)
    for path in result.files:
        say(f"{PROG}: wrote {path} ({_size(path.stat().st_size)})", file=sys.stderr)
    if args.no_check:
        return 0
    graph = OnnxTagger(args.output)
    words = list(module.vocabs["words"].itos[2:]) or ["a"]
    parity = check_parity(module.tagger, graph, parity_batches(graph, words))
    say(f"{PROG}: parity with PyTorch: {parity}", file=sys.stderr)
    if args.quantize is None and parity.differing > parity.tied:
        message = f"the graph's tags differ from PyTorch's outside ties ({parity})"
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    return 0


def _size(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 1e6 else f"{count / 1e3:,.1f} KB"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or options, 1 a bug)."""
    return run_command(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
