"""Time the data path on UD English-EWT: read + vocab + encode, cold and warm.

    python scripts/bench_data.py [DATA_DIR]      # default: $SEQTAGGER_DATA_DIR or ../shared/data

Cold = an empty datasets cache (a fresh temporary folder); warm = the same call again in a new
process-like state (a new TaggingDataModule over the filled cache). Imports are excluded: they
are paid once per process whatever the data. Prints one line per run and the targets from the
issue (cold < 5 s, warm < 1 s), then the padding of random vs length-bucketed batches, then the
raw-text tokenizer on 1 MB lines without spaces (linear time: target < 1 s each).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seqtagger.data.datamodule import TaggingDataModule
from seqtagger.data.readers import ConlluReader
from seqtagger.data.sampler import BucketBatchSampler, padding_ratio
from seqtagger.inference.tokenizer import tokenize


def load(data_dir: Path, cache_dir: str) -> tuple[float, TaggingDataModule]:
    """Seconds for read + vocab + encode of all three splits, and the datamodule."""
    start = time.perf_counter()
    datamodule = TaggingDataModule(
        reader=ConlluReader(),
        corpus="ud_ewt",
        data_dir=str(data_dir),
        cache_dir=cache_dir,
        download=False,
    )
    datamodule.setup("fit")
    return time.perf_counter() - start, datamodule


def main() -> None:
    default = os.environ.get(
        "SEQTAGGER_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else default)
    with tempfile.TemporaryDirectory() as cache_dir:
        cold, datamodule = load(data_dir, cache_dir)
        sizes = {split: len(ds) for split, ds in datamodule.datasets.items()}
        tokens = sum(sum(ds.lengths) for ds in datamodule.datasets.values())
        print(f"EWT sentences per split: {sizes}, {tokens:,} tokens in all")
        print(f"cold (empty cache): {cold:.2f} s   (target < 5 s)")
        for run in (1, 2):
            warm, _ = load(data_dir, cache_dir)
            print(f"warm #{run} (cache hit): {warm:.2f} s   (target < 1 s)")
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
