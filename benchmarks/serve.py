"""``seqtagger-serve`` under load: requests/s, latency and the batches formed, per concurrency.

    python -m benchmarks serve --ckpt CKPT [--concurrency 1 4 16] [--requests 400]
        [--input tokens|text] [--sentences-per-request 1] [--corpus FILE]
        [--max-batch 64] [--max-wait-ms 5] [--threads N] [--conditions TEXT] [--out FILE]
    python -m benchmarks serve --url http://127.0.0.1:8000 [--token T] ...   # a running server

Starts ``seqtagger-serve CKPT --port 0`` in its own process (or uses ``--url``), then, for each
concurrency level C, sends ``--requests`` requests from C client threads (one keep-alive
connection each), each request ``--sentences-per-request`` sentences of ``--corpus`` (CoNLL
columns, the first is the word; default: CoNLL-2003 test from ``SEQTAGGER_DATA_DIR``) as
``tokens`` or as ``text`` (the words joined by spaces). Reports requests/s, sentences/s, p50 and
p99 latency, and the batches the server formed at that level (from ``GET /health`` before and
after). The clients run on the same machine as the server and share its cores: the numbers are
the whole system's. Timing runs beside other work say so in ``--conditions``; the JSON records
the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from benchmarks.corpus import data_dir
from benchmarks.scaling import child_env

WARMUP_REQUESTS = 8
ADDRESS = re.compile(r"serving .* on (http://\S+)")


def read_sentences(path: Path) -> list[list[str]]:
    """The words of each sentence of a CoNLL-style file (first column; ``-DOCSTART-`` lines
    and blank lines between sentences skipped)."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields:
            if words:
                sentences.append(words)
            words = []
        elif fields[0] != "-DOCSTART-":
            words.append(fields[0])
    if words:
        sentences.append(words)
    return sentences


def payloads(sentences: list[list[str]], per_request: int, kind: str) -> Iterator[bytes]:
    """Request bodies, ``per_request`` sentences each, cycling over ``sentences``."""
    pool = cycle(sentences)
    while True:
        group = list(islice(pool, per_request))
        if kind == "tokens":
            body: dict[str, Any] = {"tokens": group}
        else:
            body = {"text": " ".join(" ".join(words) for words in group)}
        yield json.dumps(body).encode()


def server_arguments(args: argparse.Namespace) -> list[str]:
    """``seqtagger-serve``'s arguments for this benchmark's options."""
    arguments = [str(args.ckpt), "-q", "--max-batch", str(args.max_batch)]
    arguments += ["--max-wait-ms", str(args.max_wait_ms)]
    arguments += ["--max-sentences", str(max(1000, args.sentences_per_request))]
    return arguments + (["--threads", str(args.threads)] if args.threads else [])


@contextmanager
def server_process(
    arguments: list[str], log: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> Iterator[str]:
    """``seqtagger-serve ARGUMENTS --port 0`` in its own process, its output in ``log``;
    yields the address it prints, and stops it on the way out (also when it fails)."""
    command = [sys.executable, "-m", "seqtagger.serve.app", *arguments, "--port", "0"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env or child_env()
        )
    try:
        deadline = time.monotonic() + timeout
        while not (found := ADDRESS.search(log.read_text(encoding="utf-8"))):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(encoding="utf-8")[-3000:]
                raise RuntimeError(f"seqtagger-serve did not start:\n{tail}")
            time.sleep(0.05)
        yield found.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def load_level(
    url: str, headers: dict[str, str], bodies: Iterator[bytes], requests: int, concurrency: int
) -> tuple[list[float], int, float]:
    """Send ``requests`` bodies from ``concurrency`` threads: latencies (s), errors, wall s."""
    import httpx

    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    left = [requests]

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                    body = next(bodies)
                started = time.perf_counter()
                response = http.post("/predict", content=body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    errors[0] += response.status_code != 200

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - started


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def batches_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The batches a level formed: ``/health``'s counts after minus before."""
    sizes = {}
    for unit in ("sentences", "requests"):
        grown = Counter({int(k): v for k, v in after["sizes"][unit].items()})
        grown.subtract({int(k): v for k, v in before["sizes"][unit].items()})
        sizes[unit] = {str(k): v for k, v in sorted(grown.items()) if v > 0}
    batches = after["batches"] - before["batches"]
    sentences = after["sentences"] - before["sentences"]
    requests = after["requests"] - before["requests"]
    return {
        "batches": batches,
        "mean_sentences": round(sentences / batches, 2) if batches else 0.0,
        "mean_requests": round(requests / batches, 2) if batches else 0.0,
        "sizes": sizes,
    }


def measure(url: str, args: argparse.Namespace, sentences: list[list[str]]) -> dict[str, Any]:
    """Warm up, then every concurrency level in turn; the report."""
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    bodies = payloads(sentences, args.sentences_per_request, args.input)
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        summary = http.get("/model").raise_for_status().json()["summary"]
        load_level(url, headers, bodies, WARMUP_REQUESTS, 1)
        rows = []
        tokens_per_request = sum(map(len, sentences)) / len(sentences) * args.sentences_per_request
        for concurrency in args.concurrency:
            before = http.get("/health").json()["batches"]
            latencies, errors, wall = load_level(url, headers, bodies, args.requests, concurrency)
            after = http.get("/health").json()["batches"]
            row = {
                "concurrency": concurrency,
                "requests": args.requests,
                "errors": errors,
                "wall_s": round(wall, 3),
                "requests_per_s": round(args.requests / wall, 1),
                "sentences_per_s": round(args.requests * args.sentences_per_request / wall, 1),
                "tokens_per_s": round(args.requests * tokens_per_request / wall),
                "p50_ms": round(1000 * percentile(latencies, 0.50), 2),
                "p99_ms": round(1000 * percentile(latencies, 0.99), 2),
                "batches": batches_between(before, after),
            }
            rows.append(row)
            print(
                f"C={concurrency:<3} {row['requests_per_s']:8,.1f} requests/s "
                f"{row['sentences_per_s']:8,.1f} sentences/s | p50 {row['p50_ms']:7.1f} ms "
                f"p99 {row['p99_ms']:7.1f} ms | {row['batches']['batches']:4} batches, "
                f"{row['batches']['mean_requests']:.2f} requests each | errors {errors}",
                flush=True,
            )
    return {"model": summary, "rows": rows}


def meta(args: argparse.Namespace, corpus: Path, sentences: list[list[str]]) -> dict[str, Any]:
    import torch

    return {
        "argv": sys.argv,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "server_threads": args.threads,
        "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "input": args.input,
        "sentences_per_request": args.sentences_per_request,
        "corpus": str(corpus),
        "corpus_sentences": len(sentences),
        "conditions": args.conditions,
        "load_average_before": os.getloadavg(),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--ckpt", type=Path, help="start seqtagger-serve on this checkpoint")
    target.add_argument("--url", help="a server already running (its own options apply)")
    parser.add_argument("--token", default=os.environ.get("SEQTAGGER_SERVE_TOKEN"))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--input", choices=("tokens", "text"), default="tokens")
    parser.add_argument("--sentences-per-request", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=None, help="default: CoNLL-2003 test")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=None, help="the server's torch threads")
    parser.add_argument("--conditions", default="not stated", help="what else ran meanwhile")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    corpus = args.corpus or data_dir() / "conll2003" / "test.txt"
    if not corpus.is_file():
        raise SystemExit(f"serve: no corpus at {corpus} (--corpus FILE, or SEQTAGGER_DATA_DIR)")
    sentences = read_sentences(corpus)
    report = meta(args, corpus, sentences)
    if args.url:
        report |= measure(args.url, args, sentences)
    else:
        folder = Path(tempfile.mkdtemp(prefix="seqtagger_serve_"))
        try:
            server = server_process(server_arguments(args), folder / "server.log")
            with server as url:
                report |= measure(url, args, sentences)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    report["load_average_after"] = os.getloadavg()
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
