"""How the data path and a training epoch scale with the corpus: EWT at 1x, 10x and 100x.

    python -m benchmarks scaling [--scales 1 10 100] [--max-batches 200] [--base DIR]
        [--workdir DIR] [--out scaling.json] [-- extra seqtagger-train overrides]

For each scale, the training split of ``--base`` (UD English-EWT from ``SEQTAGGER_DATA_DIR`` by
default; or a folder with ``train.conllu``, ``dev.conllu``, ``test.conllu``) is written ``scale``
times over as CoNLL-U, each copy after the first with the words of every sentence shuffled (100x
EWT is ~20M tokens, written line by line); dev and test stay the base's. Then, each in its own
process, so that its peak resident memory (max RSS, from ``os.wait4``) is its own:

  cold      read + check + vocabularies + encode with an empty datasets cache (time in process,
            imports excluded)
  warm      the same again on the filled cache
  train     ``python -m seqtagger.train``: one epoch, at most ``--max-batches`` training batches
            (``trainer.limit_train_batches``: the epoch is cut there, and the printed line says
            so), ``--val-batches`` dev batches, no test; training tokens/s from its epoch line

Prints one line per scale and writes JSON. ``--workdir`` keeps the corpora (default: a temporary
folder, removed at the end). Where memory grows with the corpus is listed at the end (``NOTES``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.corpus import EWT_FOLDER, data_dir, files_overrides, shown, write_scaled

REPO = Path(__file__).resolve().parents[1]
TOKENS_PER_S = re.compile(r"([\d,]+) train tokens/s")
NOTES = [
    "TaggedDataset (data/collate.py) reads rows as views of the memory-mapped Arrow cache: the "
    "ids cost no heap; the pages an epoch reads count in max RSS as file pages (reclaimable), "
    "not in the anonymous RSS",
    "TaggedDataset.lengths returns a Python list of every sentence length (the sampler keeps a "
    "numpy copy): ~36 bytes per sentence, small next to the ids",
    "build_vocabs (data/vocab.py) counts words and tags in batches of rows, not from the whole "
    "columns as Python lists (that held every token string of the split at once)",
    "encoding, scheme conversion and tag checks stream in batches (datasets.map, "
    "Dataset.iter); dev/test tags are read as Python lists only when some are unknown",
]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--max-batches", type=int, default=200, help="0: the whole epoch")
    parser.add_argument("--val-batches", type=int, default=10)
    parser.add_argument("--base", type=Path, default=None, help="default: EWT, shared corpora")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the corpora here")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per child process")
    parser.add_argument("--child-data", nargs=3, help=argparse.SUPPRESS)  # corpus cache json
    parser.add_argument("overrides", nargs="*", help="seqtagger-train overrides (model, data)")
    return parser.parse_args(argv)


def child_env() -> dict[str, str]:
    """This checkout's code (``src/``) and the ``benchmarks`` package importable in a child."""
    paths = [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def anon_rss_mb(pid: int) -> float:
    """A process' anonymous resident memory (heap, not pages of mapped files), 0 if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0.0
    found = re.search(r"^RssAnon:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def run_measured(command: list[str], log: Path, timeout: float) -> dict[str, Any]:
    """Run ``command`` with its output in ``log``: its exit code, wall seconds, max RSS, and the
    peak of its anonymous RSS sampled every 50 ms (max RSS also counts the pages of the
    memory-mapped datasets cache that were read: those belong to the file and are reclaimable)."""
    peak_anon = 0.0
    with log.open("w", encoding="utf-8") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=child_env())
        deadline = start + timeout
        while (status := os.wait4(process.pid, os.WNOHANG))[0] == 0:
            peak_anon = max(peak_anon, anon_rss_mb(process.pid))
            if time.perf_counter() > deadline:
                process.kill()
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status[1])
    return {
        "returncode": process.returncode,
        "wall_s": time.perf_counter() - start,
        "max_rss_mb": status[2].ru_maxrss / 1024,  # Linux: KiB
        "peak_anon_rss_mb": peak_anon,
    }


def check(result: dict[str, Any], log: Path) -> None:
    if result["returncode"] != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"scaling: a child failed (exit {result['returncode']}):\n{tail}")


def measure_data(corpus: Path, cache: Path, folder: Path, overrides: list[str], timeout: float):
    """Cold then warm read + encode, each in a fresh process: their in-process seconds and RSS."""
    results = {}
    for name in ("cold", "warm"):
        log, answer = folder / f"{name}.log", folder / f"{name}.json"
        child = [sys.executable, "-m", "benchmarks.scaling", "--child-data"]
        script = [*child, str(corpus), str(cache), str(answer)]
        result = run_measured([*script, *overrides], log, timeout)
        check(result, log)
        result["seconds"] = json.loads(answer.read_text(encoding="utf-8"))["seconds"]
        results[name] = result
    return results


def measure_training(
    corpus: Path, cache: Path, folder: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One epoch of ``seqtagger-train`` (cut at ``--max-batches``) on the warm cache."""
    run_dir = folder / "run"
    command = [sys.executable, "-m", "seqtagger.train", *files_overrides(corpus)]
    command += [f"paths.cache_dir={cache}", f"hydra.run.dir={run_dir}", "test=false"]
    command += ["trainer.max_epochs=1", f"trainer.limit_val_batches={args.val_batches}"]
    command += ["callbacks.rich_progress_bar=null", "extras.print_config=false"]
    if args.max_batches:
        command.append(f"trainer.limit_train_batches={args.max_batches}")
    log = folder / "train.out"
    result = run_measured([*command, *args.overrides], log, args.timeout)
    check(result, log)
    lines = (run_dir / "train.log").read_text(encoding="utf-8")
    found = TOKENS_PER_S.findall(lines)
    result["train_tokens_per_s"] = float(found[-1].replace(",", "")) if found else None
    result["limit_train_batches"] = args.max_batches or None
    return result


def child_data(corpus: Path, cache: Path, answer: Path, overrides: list[str]) -> None:
    """In a child: time one read + encode of ``corpus`` with ``cache``; write it as JSON."""
    from benchmarks.benchmark import compose_train
    from benchmarks.parts import data_path

    cfg = compose_train([*files_overrides(corpus), *overrides])
    seconds = data_path(cfg, str(cache))
    answer.write_text(json.dumps({"seconds": seconds}), encoding="utf-8")


def one_scale(scale: int, base: Path, workdir: Path, args: argparse.Namespace) -> dict:
    folder = workdir / f"x{scale}"
    start = time.perf_counter()
    sentences, tokens = write_scaled(base, folder / "corpus", scale)
    written = time.perf_counter() - start
    size = (folder / "corpus" / "train.conllu").stat().st_size / 1e6
    cache = folder / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    data = measure_data(folder / "corpus", cache, folder, args.overrides, args.timeout)
    training = measure_training(folder / "corpus", cache, folder, args)
    return {
        "scale": scale,
        "train_sentences": sentences,
        "train_tokens": tokens,
        "train_file_mb": size,
        "write_s": written,
        "data": data,
        "train": training,
    }


def print_line(result: dict[str, Any]) -> None:
    data, train = result["data"], result["train"]
    cut = (
        f"first {train['limit_train_batches']} batches" if train["limit_train_batches"] else "whole"
    )
    speed = train["train_tokens_per_s"]
    print(
        f"{result['scale']:>4}x {result['train_tokens']:>11,} tokens | read+encode cold "
        f"{data['cold']['seconds']:7.1f} s ({data['cold']['max_rss_mb']:,.0f} MB), warm "
        f"{data['warm']['seconds']:6.1f} s ({data['warm']['max_rss_mb']:,.0f} MB) | epoch "
        f"({cut}): {'-' if speed is None else f'{speed:,.0f}'} tokens/s, max RSS "
        f"{train['max_rss_mb']:,.0f} MB (anonymous {train['peak_anon_rss_mb']:,.0f} MB)",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.child_data:
        child_data(*map(Path, args.child_data), args.overrides)
        return {}
    base = args.base or data_dir() / EWT_FOLDER
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="seqtagger_scaling_"))
    report: dict[str, Any] = {"base": shown(base), "argv": sys.argv, "results": [], "notes": NOTES}
    try:
        for scale in args.scales:
            report["results"].append(one_scale(scale, base, workdir, args))
            print_line(report["results"][-1])
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.max_batches:
        print(f"epochs cut at {args.max_batches} training batches (trainer.limit_train_batches)")
    print("where memory grows with the corpus:", *(f"- {note}" for note in NOTES), sep="\n")
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
