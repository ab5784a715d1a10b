"""Time the data path on UD English-EWT: read + vocab + encode, cold and warm.

    python scripts/bench_data.py [DATA_DIR]      # default: $SEQTAGGER_DATA_DIR or ../shared/data

Cold = an empty datasets cache (a fresh temporary folder); warm = the same call again in a new
process-like state (a new TaggingDataModule over the filled cache). Imports are excluded: they
are paid once per process whatever the data. Prints one line per run and the targets from the
issue (cold < 5 s, warm < 1 s).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from seqtagger.data.datamodule import TaggingDataModule
from seqtagger.data.readers import ConlluReader


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


if __name__ == "__main__":
    main()
