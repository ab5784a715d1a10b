"""``python -m benchmarks NAME [ARGS...]``: run one benchmark; ``NAME --help`` for its options.

Each name is a module of this package (imported only when run) and the arguments put before the
user's: ``predict`` is ``train --parts predict``, ``parts NAME...`` is ``train --parts NAME...``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "train": ("benchmark", [], "seqtagger against plain PyTorch: train, predict, data, loss"),
    "predict": ("benchmark", ["--parts", "predict"], "prediction only: a plain loop, Predictor"),
    "parts": ("benchmark", ["--parts"], "train's named parts only: parts predict loss [ARGS]"),
    "data": ("data", [], "EWT read + encode cold and warm, padding per batching, tokenizer"),
    "loss": ("loss", [], "cross-entropy on (N, C, L) against flattened, per class count"),
    "crf": ("crf", [], "CRF head against the linear head: training step and decoding"),
    "hf": ("hf", [], "a pretrained transformer's training and prediction words/s"),
    "scaling": ("scaling", [], "time and memory of data and training at 1x, 10x, 100x EWT"),
    "ab": ("ab", [], "one training setting against itself with other overrides"),
    "memory": ("memory", [], "seqtagger-predict's peak memory against the input's size"),
    "serve": ("serve", [], "seqtagger-serve: requests/s, p50/p99 latency, batches formed"),
    "export": ("export", [], "PyTorch against its ONNX graph (fp32, int8): latency, tokens/s"),
    "flair": ("flair", [], "flair's training step, in flair's own environment"),
    "corpus": ("corpus", [], "write a generated corpus, or EWT scaled, and its overrides"),
}


def usage() -> str:
    rows = "\n".join(f"  {name:<8} {about}" for name, (_, _, about) in COMMANDS.items())
    return f"usage: python -m benchmarks NAME [ARGS...]\n\nNAME:\n{rows}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the named benchmark's ``main`` with the rest of ``argv``; 2 for an unknown name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] not in COMMANDS:
        print(f"benchmarks: unknown benchmark {args[0]!r}\n{usage()}", file=sys.stderr)
        return 2
    module, preset, _ = COMMANDS[args[0]]
    sys.argv = [f"python -m benchmarks {args[0]}", *preset, *args[1:]]
    importlib.import_module(f"benchmarks.{module}").main([*preset, *args[1:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
