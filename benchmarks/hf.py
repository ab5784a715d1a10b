"""Throughput of the fine-tuned MiniLM tagger: training and prediction words/s, CPU and GPU.

    python -m benchmarks hf [--batches 50] [--sentences 2000] [--repeats 3] [--device all]
        [--experiment ud_ewt_minilm] [--output bench_hf.json] [overrides ...]

Words, not subwords: every number counts the corpus' words (what a tagger is asked to tag);
the subwords per word are printed beside them. Training: ``--batches`` optimizer steps of the
experiment's recipe (AdamW with its parameter groups, gradient clipping, the head's loss; the
first ``--warmup`` steps are not timed), in the datamodule's length-bucketed batches of the
training split. Prediction: ``Predictor.predict`` on the first ``--sentences`` dev sentences
(featurizing, batching, windows, decoding included). Each number is the median of
``--repeats`` runs in one process, on each device of ``--device`` (``all``: the CPU and the
GPU when there is one). Prints a table and writes JSON to ``--output``.

A tiny setting to check that the script runs (a folder written by ``write_tiny_bert`` of
``tests/helpers.py``, and any small corpus)::

    python -m benchmarks hf --experiment '' --batches 3 --sentences 30 --repeats 1 \\
        model=hf model.embedding.model_name_or_path=/tmp/tiny_bert data=files \\
        paths.data_dir=/tmp/tiny data.files.train=train.txt data.files.validation=dev.txt
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch

from benchmarks.benchmark import compose_train
from benchmarks.parts import TRAINING_ONLY, build_model
from seqtagger.inference import Predictor
from seqtagger.utils.targets import to_plain


class StepTimer(L.Callback):
    """Wall time and words of the training steps after the first ``warmup`` ones (counted
    across epochs: a short epoch does not restart the clock)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.steps, self.words = warmup, 0, 0
        self.start = self.seconds = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.steps == self.warmup:
            _synchronize()
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.steps >= self.warmup:
            self.words += int(batch["lengths"].sum())
            _synchronize()
            self.seconds = time.perf_counter() - self.start
        self.steps += 1


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_words_per_second(cfg, datamodule, device: str, batches: int, warmup: int) -> float:
    L.seed_everything(0, verbose=False)
    module = build_model(cfg.model, datamodule.data_info())
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        **TRAINING_ONLY,
        accelerator=device,
        precision=cfg.trainer.precision,
        max_steps=batches + warmup,
        gradient_clip_val=cfg.trainer.gradient_clip_val,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.words / timer.seconds


def predict_words_per_second(module, sentences: list[list[str]], device: str, batch: int) -> float:
    predictor = Predictor(module, device=device, batch_size=batch)
    predictor.predict(sentences[:batch])  # warm-up: kernels, allocator
    _synchronize()
    start = time.perf_counter()
    predictor.predict(sentences)
    _synchronize()
    return sum(map(len, sentences)) / (time.perf_counter() - start)


def summary(values: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(values), "runs": values}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="ud_ewt_minilm", help="'' for none")
    parser.add_argument("--batches", type=int, default=50, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first training steps")
    parser.add_argument("--sentences", type=int, default=2000, help="dev sentences to tag")
    parser.add_argument("--predict-batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    parser.add_argument("--output", type=Path, default=Path("bench_hf.json"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data.batch_size=64")
    args = parser.parse_args(argv)
    experiment = [f"experiment={args.experiment}"] if args.experiment else []
    cfg = compose_train([*experiment, *args.overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))
    datamodule.setup("fit")
    dev = datamodule.encoded["validation"].select_columns(["tokens", "subword_ids"])
    rows = dev[: args.sentences]
    sentences = rows["tokens"]
    subwords_per_word = sum(map(len, rows["subword_ids"])) / sum(map(len, sentences))
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]

    report: dict[str, Any] = {
        "model": cfg.model.embedding.model_name_or_path,
        "experiment": args.experiment,
        "overrides": args.overrides,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": cfg.data.batch_size,
        "subwords_per_word": subwords_per_word,
        "devices": {},
    }
    for device in devices:
        train = [
            train_words_per_second(cfg, datamodule, device, args.batches, args.warmup)
            for _ in range(args.repeats)
        ]
        module = build_model(cfg.model, datamodule.data_info())
        predict = [
            predict_words_per_second(module, sentences, device, args.predict_batch_size)
            for _ in range(args.repeats)
        ]
        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        report["devices"][device] = {
            "name": name,
            "train_words_per_s": summary(train),
            "predict_words_per_s": summary(predict),
        }
    print(f"model {report['model']}, {subwords_per_word:.2f} subwords per word")
    for device, numbers in report["devices"].items():
        print(
            f"{device:>4} ({numbers['name']}): train "
            f"{numbers['train_words_per_s']['median']:,.0f} words/s, predict "
            f"{numbers['predict_words_per_s']['median']:,.0f} words/s "
            f"(median of {args.repeats})"
        )
    args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"-> {args.output}")


if __name__ == "__main__":
    main()
