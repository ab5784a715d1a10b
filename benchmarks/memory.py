"""Peak memory of ``seqtagger-predict`` as the input grows: flat, or growing with the file?

    python -m benchmarks memory --ckpt CKPT [--sentences 10000 100000 1000000]
        [--workdir DIR] [--out predict_memory.json] [-- extra seqtagger-predict options]

For each size, writes that many sentences (EWT's training sentences over and over, from
``SEQTAGGER_DATA_DIR``) as pre-tokenised lines (``--input-format tokens``), then runs
``seqtagger-predict --ckpt CKPT FILE -o OUT --no-progress`` in its own process and reports its
wall time, peak resident memory (max RSS, ``os.wait4``) and tokens/s. The output is written to
a file, as a user would, so nothing accumulates in a pipe. ``--workdir`` keeps the files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from benchmarks.corpus import EWT_FOLDER, EWT_TRAIN, data_dir, read_conllu
from benchmarks.scaling import check, run_measured


def write_tokens(path: Path, sentences: int) -> int:
    """``sentences`` lines of space-separated EWT words, repeating the training split; tokens."""
    words = [tokens for tokens, _ in read_conllu(data_dir() / EWT_FOLDER / EWT_TRAIN)]
    count = 0
    with path.open("w", encoding="utf-8") as file:
        for tokens in islice(cycle(words), sentences):
            clean = [t for t in tokens if " " not in t]  # one EWT form holds a space
            file.write(" ".join(clean) + "\n")
            count += len(clean)
    return count


def measure(ckpt: Path, sentences: int, folder: Path, extra: list[str], timeout: float) -> dict:
    source = folder / f"input_{sentences}.txt"
    tokens = write_tokens(source, sentences)
    output, log = folder / f"output_{sentences}.conll", folder / f"predict_{sentences}.log"
    command = [sys.executable, "-m", "seqtagger.predict", "--ckpt", str(ckpt), str(source)]
    command += ["--input-format", "tokens", "-o", str(output), "--no-progress", *extra]
    result = run_measured(command, log, timeout)
    check(result, log)
    source.unlink()
    output.unlink()
    return {"sentences": sentences, "tokens": tokens, **result}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--sentences", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
    parser.add_argument("extra", nargs="*", help="more seqtagger-predict options")
    args = parser.parse_args(argv)
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="seqtagger_predict_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for sentences in args.sentences:
            row = measure(args.ckpt, sentences, folder, args.extra, args.timeout)
            row["tokens_per_s"] = row["tokens"] / row["wall_s"]
            rows.append(row)
            print(
                f"{sentences:>9,} sentences {row['tokens']:>11,} tokens | {row['wall_s']:7.1f} s "
                f"| {row['tokens_per_s']:8,.0f} tokens/s | max RSS {row['max_rss_mb']:6,.0f} MB",
                flush=True,
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    report = {"argv": sys.argv, "rows": rows}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
