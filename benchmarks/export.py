"""PyTorch eager against the exported ONNX graph (float32 and int8): latency, throughput, sizes.

    python -m benchmarks export --ckpt CKPT [--corpus FILE] [--sentences 500] [--threads 1 2]
        [--repeats 3] [--profile] [--conditions TEXT] [--out FILE]

Exports ``--ckpt`` twice (``seqtagger-export``: float32, then ``--quantize int8``) into a
temporary folder, then times three backends on the first ``--sentences`` sentences of
``--corpus`` (CoNLL columns, the first is the word; default: CoNLL-2003 test from
``SEQTAGGER_DATA_DIR``), in one process, at each number of ``--threads`` (torch's threads and
onnxruntime's intra-op threads alike):

- ``path``: the whole prediction path, featurizing included: ``Predictor.predict`` against
  ``OnnxPredictor.predict``; batch 1 (one call per sentence: p50 and p99 milliseconds a
  sentence) and batch 64 (one call per 64 consecutive sentences: tokens/s).
- ``model``: the model alone on batches featurized beforehand: ``Tagger.decode`` on the
  collated batch against the session run for the tag ids (the graph cut to them, as
  ``OnnxPredictor.predict`` runs it); batch 1 and batch 64 likewise.

Each measurement is repeated ``--repeats`` times, the backends in a rotating order each time
(torch, float32, int8; then float32, int8, torch; ...), so that a load that changes during the
run spreads over all three; the median of the repeats is reported, and ``ratios`` sets each
graph against PyTorch from the same run (how many times sooner at batch 1, how many times the
tokens/s at batch 64). Also: the share of tags each graph gives as PyTorch does, the sizes of
the checkpoint and of the graphs (weights files included), and with ``--profile`` where the
time of the model alone goes at batch 64, by operator (``benchmarks/export_profile.py``, at
the first number of ``--threads``). The JSON records versions, the platform, the CPU, the
threads, ``--conditions`` and the load average before and after; the checkpoint, the corpus
and the command line name files relative to the data folder (``$SEQTAGGER_DATA_DIR/...``), the
repository, or by a run folder's name, not by this machine's paths.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.corpus import data_dir, shown, shown_argv
from benchmarks.export_profile import onnx_profile, torch_profile
from benchmarks.serve import read_sentences
from seqtagger.data.collate import collate_columns
from seqtagger.export.exporter import export_module
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.export.sidecar import write_json
from seqtagger.inference import Predictor
from seqtagger.lightning_module import TaggerModule
from seqtagger.utils.machine import cpu_name

BACKENDS = ("torch", "onnx_fp32", "onnx_int8")
BATCH = 64


def call_ms(calls: Sequence[Callable[[], Any]]) -> list[float]:
    """Milliseconds of each call."""
    times = []
    for call in calls:
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    return times


def tokens_per_s(calls: Sequence[Callable[[], Any]], tokens: int) -> float:
    """Tokens a second over all ``calls`` in turn."""
    start = time.perf_counter()
    for call in calls:
        call()
    return tokens / (time.perf_counter() - start)


class Backends:
    """The three backends at one number of threads: predictors (the whole path) and the
    model alone on batches featurized beforehand."""

    def __init__(self, module: TaggerModule, graphs: dict[str, Path], threads: int) -> None:
        torch.set_num_threads(threads)
        self.module = module
        self.predictors: dict[str, dict[int, Any]] = {"torch": {}}
        for size in (1, BATCH):
            self.predictors["torch"][size] = Predictor(module, device="cpu", batch_size=size)
            for name, path in graphs.items():
                predictor = OnnxPredictor(path, batch_size=size, threads=threads)
                self.predictors.setdefault(name, {})[size] = predictor

    def path_calls(self, name: str, batches: list[list[list[str]]]) -> list[Callable[[], Any]]:
        """The whole path, featurizing included, one call a batch (of 1 or of ``BATCH``)."""
        predictor = self.predictors[name][1 if len(batches[0]) == 1 else BATCH]
        return [lambda batch=batch: predictor.predict(batch) for batch in batches]

    def model_calls(self, name: str, batches: list[list[list[str]]]) -> list[Callable[[], Any]]:
        """The model alone, one call a batch featurized beforehand: ``Tagger.decode`` on the
        collated batch, or the session run for the tag ids."""
        if name == "torch":
            featurizer, tagger = self.module.featurizer, self.module.tagger
            collated = [
                collate_columns(featurizer.encode(b), featurizer.pad_values) for b in batches
            ]

            def decode(batch: dict[str, torch.Tensor]) -> Any:
                with torch.inference_mode():
                    return tagger.decode(batch)

            return [lambda batch=batch: decode(batch) for batch in collated]
        model = self.predictors[name][BATCH].model
        outputs = [model.output_name(task, "tag_ids") for task in model.tasks]
        session, reads = model.session_for(outputs)  # the graph cut to the tags, as predict runs
        feeds = [model.features(batch) for batch in batches]
        feeds = [{name: feed[name] for name in reads} for feed in feeds]
        return [lambda feed=feed: session.run(outputs, feed) for feed in feeds]


def rotations(repeats: int) -> list[tuple[str, ...]]:
    """The backends' order in each repeat: rotated by one each time."""
    return [BACKENDS[i % 3 :] + BACKENDS[: i % 3] for i in range(repeats)]


def measure(backends: Backends, sentences: list[list[str]], repeats: int) -> dict[str, Any]:
    """Per backend: batch-1 p50/p99 milliseconds a sentence and batch-64 tokens/s, of the
    whole path and of the model alone; medians over ``repeats`` rotated rounds."""
    tokens = sum(map(len, sentences))
    singles = [[sentence] for sentence in sentences]
    batches = [sentences[i : i + BATCH] for i in range(0, len(sentences), BATCH)]
    calls = {}
    for name in BACKENDS:
        for part in ("path", "model"):
            make = backends.path_calls if part == "path" else backends.model_calls
            calls[name, part] = (make(name, singles), make(name, batches))
            tokens_per_s(calls[name, part][1][:2], 1)  # warm-up: allocators, sessions
    raw: dict[str, dict[str, list]] = {name: {} for name in BACKENDS}
    for order in rotations(repeats):
        for name in order:
            for part in ("path", "model"):
                single, batched = calls[name, part]
                raw[name].setdefault(f"{part}_b1_ms", []).append(call_ms(single))
                rate = tokens_per_s(batched, tokens)
                raw[name].setdefault(f"{part}_b64_tokens_per_s", []).append(rate)
    return {name: _summary(values) for name, values in raw.items()}


def agreement(backends: Backends, sentences: list[list[str]]) -> dict[str, float]:
    """The share of tags each graph gives as PyTorch does, over ``sentences``."""
    tagged = {name: backends.predictors[name][BATCH].predict(sentences) for name in BACKENDS}
    shares = {}
    for name in BACKENDS[1:]:
        pairs = zip(tagged[name], tagged["torch"], strict=True)
        same = [a == b for got, want in pairs for a, b in zip(got, want, strict=True)]
        shares[name] = sum(same) / max(len(same), 1)
    return shares


def _summary(values: dict[str, list]) -> dict[str, Any]:
    """Medians over repeats; latencies as the p50 and p99 of each repeat's sentences."""
    out: dict[str, Any] = {}
    for key, runs in values.items():
        if key.endswith("_ms"):
            stem = key.removesuffix("_ms")
            for q in (50, 99):
                out[f"{stem}_p{q}_ms"] = statistics.median(np.percentile(r, q) for r in runs)
        else:
            out[key] = statistics.median(runs)
            out[key + "_runs"] = runs
    return out


def ratios(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each graph against PyTorch, from the same run: how many times sooner it answers one
    sentence (PyTorch's p50 over the graph's) and how many times PyTorch's tokens/s it tags in
    batches of ``BATCH``, for the whole path and the model alone."""
    torch_row = rows["torch"]
    found = {}
    for name in BACKENDS[1:]:
        row = rows[name]
        found[name] = {
            f"{part}_b1_p50_speedup": torch_row[f"{part}_b1_p50_ms"] / row[f"{part}_b1_p50_ms"]
            for part in ("path", "model")
        }
        for part in ("path", "model"):
            key = f"{part}_b64_tokens_per_s"
            found[name][f"{part}_b64_speedup"] = row[key] / torch_row[key]
    return found


def sizes(ckpt: Path, graphs: dict[str, Path]) -> dict[str, int]:
    """Bytes of the checkpoint and of each graph with its weights file."""
    found = {"checkpoint": ckpt.stat().st_size}
    for name, path in graphs.items():
        found[name] = sum(
            f.stat().st_size
            for f in path.parent.glob(path.name + "*")
            if not f.name.endswith(".json")
        )
    return found


def meta(args: argparse.Namespace, corpus: Path, sentences: list[list[str]]) -> dict[str, Any]:
    import onnxruntime

    return {
        "argv": shown_argv(sys.argv),
        "checkpoint": shown(args.ckpt),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "corpus": shown(corpus),
        "sentences": len(sentences),
        "tokens": sum(map(len, sentences)),
        "batch": BATCH,
        "repeats": args.repeats,
        "conditions": args.conditions,
        "load_average_before": os.getloadavg(),
    }


def corpus_sentences(corpus: Path | None, count: int) -> tuple[Path, list[list[str]]]:
    """The corpus file (default: CoNLL-2003 test) and its first ``count`` sentences."""
    path = corpus or data_dir() / "conll2003" / "test.txt"
    if not path.is_file():
        raise SystemExit(f"export: no corpus at {path} (--corpus FILE, or SEQTAGGER_DATA_DIR)")
    return path, read_sentences(path)[:count]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--ckpt", type=Path, required=True, help="a seqtagger-train checkpoint")
    add("--corpus", type=Path, default=None, help="default: CoNLL-2003 test")
    add("--conditions", default="not stated", help="what else ran meanwhile")
    add("--out", type=Path, default=None, help="write the results as JSON")
    add("--sentences", type=int, default=500)
    add("--threads", type=int, nargs="+", default=[1, 2])
    add("--repeats", type=int, default=3)
    add("--profile", action="store_true", help="where the time of a batch of 64 goes, by operator")
    args = parser.parse_args(argv)
    corpus, sentences = corpus_sentences(args.corpus, args.sentences)
    report = meta(args, corpus, sentences)
    module = TaggerModule.from_checkpoint(args.ckpt)
    with tempfile.TemporaryDirectory(prefix="seqtagger_export_") as folder:
        graphs = {"onnx_fp32": Path(folder) / "fp32" / "model.onnx"}
        graphs["onnx_int8"] = Path(folder) / "int8" / "model.onnx"
        for name, path in graphs.items():
            path.parent.mkdir()
            export_module(module, path, quantize="int8" if name == "onnx_int8" else None)
        report["bytes"] = sizes(args.ckpt, graphs)
        report["rows"] = []
        for threads in args.threads:
            backends = Backends(module, graphs, threads)
            report.setdefault("agreement_with_torch", agreement(backends, sentences))
            results = measure(backends, sentences, args.repeats)
            for name, values in results.items():
                report["rows"].append({"threads": threads, "backend": name, **values})
                print(_line(threads, name, values), flush=True)
            report.setdefault("ratios", {})[str(threads)] = found = ratios(results)
            print(f"threads={threads} against PyTorch: {json.dumps(found)}", flush=True)
            if args.profile and "profile" not in report:
                report["profile"] = profiles(backends, sentences, threads)
    report["load_average_after"] = os.getloadavg()
    print(f"bytes: {report['bytes']}, tags as PyTorch's: {report['agreement_with_torch']}")
    if args.out is not None:
        write_json(args.out, report)
    return report


def profiles(backends: Backends, sentences: list[list[str]], threads: int) -> dict[str, Any]:
    """``benchmarks/export_profile.py`` on the batches of ``BATCH`` sentences, each backend."""
    batches = [sentences[i : i + BATCH] for i in range(0, len(sentences), BATCH)]
    found: dict[str, Any] = {"threads": threads}
    found["torch"] = torch_profile(backends.module, batches)
    for name in BACKENDS[1:]:
        found[name] = onnx_profile(backends.predictors[name][BATCH].model, batches)
    return found


def _line(threads: int, name: str, values: dict[str, Any]) -> str:
    return f"threads={threads} {name:<9} | " + " | ".join(
        f"{part}: b1 p50 {values[f'{part}_b1_p50_ms']:6.2f} ms p99 "
        f"{values[f'{part}_b1_p99_ms']:6.2f} ms, b64 {values[f'{part}_b64_tokens_per_s']:9,.0f} "
        "tokens/s"
        for part in ("path", "model")
    )


if __name__ == "__main__":
    main()
