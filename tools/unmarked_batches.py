"""Training batches an epoch of the document-memory recipes on a corpus without document marks:
CoNLL-2003 without its ``-DOCSTART-`` lines (derived into a temporary folder), against the same
recipes on sentence batches of 32; and the largest real CoNLL-2003 document of each split
against the bound that keeps marked documents whole (``seqtagger/data/documents.py``).

    python -m tools.unmarked_batches [--data-dir DIR] [--recipes NAME ...] [--out FILE.json]

``--data-dir`` holds ``conll2003/{train,dev,test}.txt`` (default: $SEQTAGGER_DATA_DIR). The
batches are counted from each recipe's datamodule (its data options and its embedder's
featurizer), as ``seqtagger-train`` builds it; nothing is trained.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from seqtagger.constants import DOCSTART
from seqtagger.data.documents import MAX_DOCUMENT_SENTENCES, PIECE_SENTENCES, unit_ids
from seqtagger.data.readers import ConllReader
from seqtagger.utils.targets import to_plain

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
RECIPES = ("conll2003_bilstm_crf", "conll2003_bilstm_crf_glove", "conll2003_minilm_crf")
SENTENCE_BATCHES = ("data.batch_unit=sentences", "data.batch_size=32")
FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}


def derive_unmarked(source: Path, target: Path) -> Path:
    """CoNLL-2003's files in folder ``source`` without their ``-DOCSTART-`` lines, written to
    ``target/conll2003/`` (so ``target`` is a ``paths.data_dir`` for ``data=conll2003``)."""
    folder = target / "conll2003"
    folder.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        blocks = (source / name).read_text(encoding="utf-8").split("\n\n")
        kept = [b.strip("\n") for b in blocks if b.strip() and not b.lstrip().startswith(DOCSTART)]
        (folder / name).write_text("\n\n".join(kept) + "\n", encoding="utf-8")
    return target


def read_documents(path: Path) -> list[int]:
    """The document id the reader gives each sentence of a CoNLL file."""
    return [row["document"] for row in ConllReader().iter_sentences(path)]


def document_sizes(folder: Path) -> dict[str, dict[str, int]]:
    """Per split: documents the file marks, its largest (sentences) and how many the bound cuts."""
    sizes = {}
    for split, name in FILES.items():
        documents = read_documents(folder / name)
        counts = list(Counter(documents).values())
        units = len(set(unit_ids(documents)))
        sizes[split] = {
            "documents": len(counts),
            "largest_document_sentences": max(counts),
            "documents_cut": sum(count > MAX_DOCUMENT_SENTENCES for count in counts),
            "units": units,
        }
    return sizes


def train_batches(recipe: str, overrides: Sequence[str]) -> int:
    """Training batches an epoch of ``experiment=recipe`` with ``overrides`` (one process)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="train", overrides=[f"experiment={recipe}", *overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))
    datamodule.setup("fit")
    return len(datamodule.train_dataloader())


def measure(data_dir: Path, recipes: Sequence[str], work: Path) -> dict[str, Any]:
    """The measurement, as written to ``--out``."""
    unmarked = derive_unmarked(data_dir / "conll2003", work / "unmarked")
    paths = [f"paths.data_dir={unmarked}", f"paths.cache_dir={work / 'cache'}"]
    results = {}
    for recipe in recipes:
        documents = train_batches(recipe, paths)
        sentences = train_batches(recipe, [*paths, *SENTENCE_BATCHES])
        results[recipe] = {
            "documents_batch_size_2": documents,
            "sentences_batch_size_32": sentences,
            "ratio": round(documents / sentences, 4),
        }
        print(recipe, results[recipe], flush=True)
    train = read_documents(unmarked / "conll2003" / "train.txt")
    runs = 1 + sum(a != b for a, b in pairwise(train))
    return {
        "command": "python -m tools.unmarked_batches --out "
        "docs/results/documents/unmarked_batches.json",
        "corpus": "CoNLL-2003 without its -DOCSTART- lines: each file one run of sentences "
        f"without marks ({len(train)} training sentences)",
        "bound": {
            "max_document_sentences": MAX_DOCUMENT_SENTENCES,
            "piece_sentences": PIECE_SENTENCES,
        },
        "train_batches_before_the_bound": math.ceil(runs / 2),
        "train_batches_an_epoch": results,
        "conll2003_documents": document_sizes(data_dir / "conll2003"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("SEQTAGGER_DATA_DIR"))
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.data_dir is None or not (args.data_dir / "conll2003" / "train.txt").is_file():
        print("unmarked_batches: give --data-dir (or SEQTAGGER_DATA_DIR) with conll2003/")
        return 2
    with tempfile.TemporaryDirectory(prefix="unmarked-batches-") as work:
        record = measure(args.data_dir, args.recipes, Path(work))
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
