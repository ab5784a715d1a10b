"""CRF head vs linear head on CPU: training step and decoding time, same model and batches.

    python -m benchmarks crf [--batches 60] [--repeats 3]

The BiLSTM recipe on CoNLL-2003 train batches of 32 sentences (BIOES labels), built twice with
the same seed: once with ``model/head=linear``, once with ``model/head=crf``. Each repeat times
``--batches`` training steps (forward, head loss, backward, Adam step) and the decoding of the
same batches (forward + ``head.decode``) for both heads, alternating, in one process, after a
warm-up round. Prints
milliseconds per batch and the CRF / linear ratios (medians over repeats).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import hydra
import lightning as L
import torch

from benchmarks.benchmark import compose_train
from benchmarks.parts import build_model

HEADS = ("linear", "crf")


def timed(function, batches) -> float:
    start = time.perf_counter()
    for batch in batches:
        function(batch)
    return 1000 * (time.perf_counter() - start) / len(batches)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    cfgs = {head: compose_train(["data=conll2003", f"model/head={head}"]) for head in HEADS}
    datamodule = hydra.utils.instantiate(cfgs["linear"].data)
    datamodule.setup("fit")
    loader = iter(datamodule.train_dataloader())
    batches = [next(loader) for _ in range(args.batches)]
    modules, optimizers = {}, {}
    for head, cfg in cfgs.items():
        L.seed_everything(0, verbose=False)
        modules[head] = module = build_model(cfg.model, datamodule.data_info())
        optimizers[head] = torch.optim.Adam(module.parameters(), lr=1e-3)

    def train_step(head):
        def step(batch):
            module = modules[head].train()
            loss = module.tagger.head.loss(module(batch)["tags"], batch["tag_ids"], batch["mask"])
            optimizers[head].zero_grad()
            loss.backward()
            optimizers[head].step()

        return step

    def decode(head):
        @torch.inference_mode()
        def run(batch):
            module = modules[head].eval()
            module.tagger.head.decode(module(batch)["tags"], batch["mask"])

        return run

    results = {key: [] for key in ("train linear", "train crf", "decode linear", "decode crf")}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        for head in ("linear", "crf"):
            if repeat == 0:
                timed(train_step(head), batches[:5])
                timed(decode(head), batches[:5])
                continue
            results[f"train {head}"].append(timed(train_step(head), batches))
            results[f"decode {head}"].append(timed(decode(head), batches))
    tokens = sum(int(b["lengths"].sum()) for b in batches) / len(batches)
    print(
        f"{args.batches} batches of 32 sentences ({tokens:.0f} tokens/batch), CPU threads: "
        f"{torch.get_num_threads()}"
    )
    median = {key: statistics.median(values) for key, values in results.items()}
    for key, value in median.items():
        print(f"{key:14s} {value:7.2f} ms/batch")
    for what in ("train", "decode"):
        print(f"{what}: crf / linear = {median[f'{what} crf'] / median[f'{what} linear']:.2f}x")


if __name__ == "__main__":
    main()
