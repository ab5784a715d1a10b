"""Count sentences, tokens and tags per split of the named corpora and compare with SOURCES.md.

Usage: python -m tools.count_corpora [DATA_DIR]   (default: $SEQTAGGER_DATA_DIR, else
../shared/data next to the repository). Exit status 1 when any count differs from the
reference below, 2 when a corpus is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from seqtagger.data.download import CORPORA
from seqtagger.data.readers import CorpusNotFoundError, reader_for_path

# REFERENCE: copied by hand from the shared data SOURCES.md (the published statistics of
# UD English-EWT r2.16 and of the CoNLL-2003 English NER shared task). Not computed here.
# corpus -> split -> (sentences, tokens, {tag: count})
EXPECTED: dict[str, dict[str, tuple[int, int, dict[str, int]]]] = {
    "ud_ewt": {
        "train": (12_544, 204_577, {
            "ADJ": 13_137, "ADP": 17_742, "ADV": 10_167, "AUX": 12_815, "CCONJ": 6_687,
            "DET": 16_299, "INTJ": 695, "NOUN": 34_751, "NUM": 4_126, "PART": 5_748,
            "PRON": 18_677, "PROPN": 12_620, "PUNCT": 23_596, "SCONJ": 3_819, "SYM": 722,
            "VERB": 22_576, "X": 400,
        }),
        "validation": (2_001, 25_147, {
            "ADJ": 1_865, "ADP": 2_039, "ADV": 1_231, "AUX": 1_567, "CCONJ": 779, "DET": 1_900,
            "INTJ": 115, "NOUN": 4_210, "NUM": 383, "PART": 647, "PRON": 2_225, "PROPN": 1_867,
            "PUNCT": 3_075, "SCONJ": 397, "SYM": 81, "VERB": 2_707, "X": 59,
        }),
        "test": (2_077, 25_094, {
            "ADJ": 1_788, "ADP": 2_029, "ADV": 1_191, "AUX": 1_543, "CCONJ": 736, "DET": 1_897,
            "INTJ": 121, "NOUN": 4_123, "NUM": 542, "PART": 649, "PRON": 2_164, "PROPN": 2_075,
            "PUNCT": 3_096, "SCONJ": 384, "SYM": 109, "VERB": 2_605, "X": 42,
        }),
    },
    "conll2003": {
        "train": (14_041, 203_621, {
            "B-LOC": 11, "B-MISC": 37, "B-ORG": 24, "I-LOC": 8_286, "I-MISC": 4_556,
            "I-ORG": 10_001, "I-PER": 11_128, "O": 169_578,
        }),
        "validation": (3_250, 51_362, {
            "B-LOC": 0, "B-MISC": 4, "B-ORG": 0, "I-LOC": 2_094, "I-MISC": 1_264,
            "I-ORG": 2_092, "I-PER": 3_149, "O": 42_759,
        }),
        "test": (3_453, 46_435, {
            "B-LOC": 6, "B-MISC": 9, "B-ORG": 5, "I-LOC": 1_919, "I-MISC": 909, "I-ORG": 2_491,
            "I-PER": 2_773, "O": 38_323,
        }),
    },
}  # fmt: skip


def count(path: Path) -> tuple[int, int, Counter]:
    """Sentences, tokens and tag counts of one corpus file."""
    n_sentences, n_tokens, tags = 0, 0, Counter()
    for sentence in reader_for_path(path).iter_sentences(path):
        n_sentences += 1
        n_tokens += len(sentence["tokens"])
        tags.update(sentence["tags"])
    return n_sentences, n_tokens, tags


def default_data_dir() -> Path:
    env = os.environ.get("SEQTAGGER_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--tags", action="store_true", help="also print the count of every tag")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()

    status = 0
    header = f"{'corpus':<10} {'split':<10} {'sentences':>9} {'tokens':>8} {'tags':>4}  reference"
    print(f"data dir: {data_dir}\n{header}\n{'-' * len(header)}")
    for corpus, splits in EXPECTED.items():
        spec = CORPORA[corpus]
        for split, (want_sents, want_tokens, want_tags) in splits.items():
            path = data_dir / spec.folder / spec.files[split]
            try:
                got_sents, got_tokens, got_tags = count(path)
            except CorpusNotFoundError as err:
                print(f"{corpus:<10} {split:<10} missing: {err}")
                status = max(status, 2)
                continue
            diffs = []
            if got_sents != want_sents:
                diffs.append(f"sentences {want_sents:,}")
            if got_tokens != want_tokens:
                diffs.append(f"tokens {want_tokens:,}")
            wanted_tags = {tag: n for tag, n in want_tags.items() if n}
            if dict(got_tags) != wanted_tags:
                bad = sorted(set(got_tags) | set(wanted_tags))
                bad = [t for t in bad if got_tags.get(t, 0) != wanted_tags.get(t, 0)]
                diffs.append("tag counts differ: " + ", ".join(bad))
            verdict = "equal" if not diffs else "DIFFERENT (expected " + "; ".join(diffs) + ")"
            if diffs:
                status = max(status, 1)
            print(
                f"{corpus:<10} {split:<10} {got_sents:>9,} {got_tokens:>8,} "
                f"{len(got_tags):>4}  {verdict}"
            )
            if args.tags:
                print("    " + "  ".join(f"{t}={n:,}" for t, n in sorted(got_tags.items())))
    verdicts = {
        0: "all counts equal SOURCES.md",
        1: "counts do NOT all equal SOURCES.md",
        2: "corpus files missing",
    }
    print(f"\n{verdicts[status]}")
    return status


if __name__ == "__main__":
    sys.exit(main())
