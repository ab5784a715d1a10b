"""Time the data path on UD English-EWT: read + vocab + encode, cold and warm.

    python -m benchmarks data [DATA_DIR]      # default: $SEQTAGGER_DATA_DIR or ../shared/data

Cold = an empty datasets cache (a fresh temporary folder); warm = the same set-up again over the
filled cache (``benchmarks.parts.data_path``, as ``python -m benchmarks train`` times it).
Imports are excluded: they are paid once per process whatever the data. Prints one line per run
(targets: cold < 5 s, warm < 1 s), then the padding of random vs length-bucketed batches, then
the raw-text tokenizer on 1 MB lines without spaces (linear time: target < 1 s each).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import hydra
import numpy as np

from benchmarks.benchmark import compose_train
from benchmarks.corpus import ewt_overrides
from benchmarks.parts import data_path
from seqtagger.data.sampler import BucketBatchSampler, padding_ratio
from seqtagger.inference.tokenizer import tokenize


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None, help="the corpora")
    args = parser.parse_args(argv)
    cfg = compose_train(ewt_overrides(args.data_dir))
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = data_path(cfg, cache_dir)
        datamodule = hydra.utils.instantiate(cfg.data, cache_dir=cache_dir)
        datamodule.setup("fit")
        sizes = {split: len(ds) for split, ds in datamodule.datasets.items()}
        tokens = sum(sum(ds.lengths) for ds in datamodule.datasets.values())
        print(f"EWT sentences per split: {sizes}, {tokens:,} tokens in all")
        print(f"cold (empty cache): {cold:.2f} s   (target < 5 s)")
        for run in (1, 2):
            print(f"warm #{run} (cache hit): {data_path(cfg, cache_dir):.2f} s   (target < 1 s)")
        print_padding(datamodule.datasets["train"].lengths)
    print_tokenizer_speed()


def print_padding(lengths: list[int], batch_size: int = 32) -> None:
    """Padded positions per real token: random batches vs the bucketed sampler (one epoch)."""
    order = np.random.default_rng(0).permutation(len(lengths))
    random_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    bucketed = BucketBatchSampler(lengths, batch_size, shuffle=True, seed=0)
    print(
        f"padding, batch {batch_size}: random {padding_ratio(random_batches, lengths):.2f}x, "
        f"bucketed {padding_ratio(list(bucketed), lengths):.2f}x of real tokens"
    )


def print_tokenizer_speed(size: int = 1 << 20) -> None:
    """Seconds to tokenise one ``size``-character line without spaces (these
    took quadratic time, 12.7 s for 80 KB of ``abc.abc.``)."""
    for unit in ("abc.", "a+", "1,000"):
        line = unit * (size // len(unit))
        start = time.perf_counter()
        tokenize(line)
        seconds = time.perf_counter() - start
        print(f"tokenize {len(line) / 1e6:.1f} MB of {unit!r}...: {seconds:.2f} s   (target < 1 s)")


if __name__ == "__main__":
    main()
