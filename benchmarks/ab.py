"""A/B one change on the framework's training path: two override lists, runs alternating in one
process, on the same batches (``benchmarks.benchmark``'s cells and its ``framework_train``).

    python -m benchmarks ab --setting bilstm --batch-size 32 --b +model.optimizer.fused=false
        [--a OVERRIDE ...] [--corpus ewt|conll2003|synthetic] [--batches 100] [--warmup 5]
        [--val-batches 5] [--repeats 6] [--device cpu|cuda] [--out ab.json] [-- overrides]

Prints and writes each side's training tokens/s per repeat, their medians, and the median of
the paired ratios A/B (> 1: A trains faster). For the gain of a knob: A is the default, B the
knob turned off. Order alternates (A B, B A, ...) so a drift in the machine's load hits both.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.benchmark import CORPORA, SETTINGS, corpus, make_cell, meta
from benchmarks.parts import framework_train

LEGEND = "a_over_b: median of the paired ratios, A's training tokens/s over B's (> 1: A faster)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="bilstm")
    parser.add_argument("--a", nargs="*", default=[], help="overrides of side A (the default)")
    parser.add_argument("--b", nargs="+", required=True, help="overrides of side B")
    parser.add_argument("--corpus", choices=CORPORA, default="ewt")
    parser.add_argument("--synthetic-sentences", type=int, default=2000, help="train sentences")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batches", type=int, default=100, help="timed training batches")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches before them")
    parser.add_argument("--val-batches", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=6, help="even: each side first as often")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for both sides")
    args = parser.parse_args(argv)
    if min(args.batches, args.val_batches, args.repeats) < 1 or args.warmup < 0:
        parser.error("--batches, --val-batches, --repeats >= 1; --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="seqtagger_bench_ab_"))
    label = {"setting": args.setting, "precision": "32", "batch_size": args.batch_size}
    try:
        base = [*SETTINGS[args.setting], *corpus(args, folder), *args.overrides]
        base.append(f"paths.cache_dir={folder / 'cache'}")
        device = torch.device(args.device)
        cells = {
            side: make_cell(label, [*base, *extra], args, device, folder / side)
            for side, extra in (("a", args.a), ("b", args.b))
        }
        available = len(cells["a"].datamodule.train_dataloader()) - args.warmup
        if available < args.batches:
            asked = f"{available} batches after the warm-up, {args.batches} asked"
            raise SystemExit(f"benchmarks ab: {asked}: lower --batches or --batch-size")
        speeds: dict[str, list[float]] = {"a": [], "b": []}
        for repeat in range(args.repeats):
            for side in ("a", "b") if repeat % 2 == 0 else ("b", "a"):
                speeds[side].append(framework_train(cells[side])["train_tokens_per_s"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    paired = [a / b for a, b in zip(speeds["a"], speeds["b"], strict=True)]
    report = {
        "meta": {**meta(args), "legend": LEGEND},
        "setting": args.setting,
        "a": {"overrides": args.a, "train_tokens_per_s": speeds["a"]},
        "b": {"overrides": args.b, "train_tokens_per_s": speeds["b"]},
        "median_a": statistics.median(speeds["a"]),
        "median_b": statistics.median(speeds["b"]),
        "a_over_b": statistics.median(paired),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "meta"}, indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
