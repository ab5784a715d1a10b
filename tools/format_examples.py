"""Write ``docs/examples/``: the same five sentences in every corpus format seqtagger reads.

Usage: python -m tools.format_examples [OUT_DIR]   (default: docs/examples)

One list of sentences, one writer per format, so the examples never drift apart:
``ner.conll`` (CoNLL columns), ``ner.jsonl`` (JSON Lines), ``ner.json`` (a JSON list),
``ner.parquet`` (Parquet), ``ner_dataset/`` (a ``datasets`` ``save_to_disk`` folder whose tags
are a ``ClassLabel``, as on the Hugging Face hub) with NER tags in IOB2, and ``pos.conllu``
(CoNLL-U, UPOS tags). The binary ones (Parquet, the dataset folder) are committed as written
here; ``tests/test_format_examples.py`` checks that the text ones are exactly what this writes.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# tokens, NER tags (IOB2) and UPOS tags, space-separated; sentences made up for the examples
# (no corpus text is copied into the project)
_ROWS = [
    (
        "Nordwind Ltd sells Danish cheese to Brazil .",
        "B-ORG I-ORG O B-MISC O O B-LOC O",
        "PROPN PROPN VERB ADJ NOUN ADP PROPN PUNCT",
    ),
    (
        "Maria Lopez visited the World Bank in Buenos Aires on Friday .",
        "B-PER I-PER O O B-ORG I-ORG O B-LOC I-LOC O O O",
        "PROPN PROPN VERB DET PROPN PROPN ADP PROPN PROPN ADP PROPN PUNCT",
    ),
    (
        "Anna Berg works for Acme Corp in Oslo .",
        "B-PER I-PER O O B-ORG I-ORG O B-LOC O",
        "PROPN PROPN VERB ADP PROPN PROPN ADP PROPN PUNCT",
    ),
    (
        "The Red Cross opened an office in Lagos .",
        "O B-ORG I-ORG O O O O B-LOC O",
        "DET PROPN PROPN VERB DET NOUN ADP PROPN PUNCT",
    ),
    (
        "Fatima met Chen Li in Paris .",
        "B-PER O B-PER I-PER O B-LOC O",
        "PROPN VERB PROPN PROPN ADP PROPN PUNCT",
    ),
]
SENTENCES: list[tuple[list[str], ...]] = [tuple(part.split() for part in row) for row in _ROWS]

NER_LABELS = sorted({tag for _, tags, _ in SENTENCES for tag in tags})


def records() -> list[dict[str, list[str]]]:
    """The NER sentences as ``{"tokens": [...], "tags": [...]}`` records."""
    return [{"tokens": tokens, "tags": tags} for tokens, tags, _ in SENTENCES]


def write_conll(path: Path) -> None:
    """``token tag`` per line, a blank line after each sentence (any number of columns works,
    the tag is the last one)."""
    lines = []
    for tokens, tags, _ in SENTENCES:
        lines += [f"{token} {tag}" for token, tag in zip(tokens, tags, strict=True)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_conllu(path: Path) -> None:
    """CoNLL-U: ten tab-separated columns, ``# text`` comments; FORM is the token and UPOS the
    tag (``_`` = not annotated, here for every other column)."""
    lines = []
    for i, (tokens, _, upos) in enumerate(SENTENCES, 1):
        lines += [f"# sent_id = example-{i}", f"# text = {' '.join(tokens)}"]
        for j, (token, tag) in enumerate(zip(tokens, upos, strict=True), 1):
            lines.append("\t".join([str(j), token, "_", tag, *["_"] * 6]))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_jsonl(path: Path) -> None:
    """One JSON object per line."""
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records())
    path.write_text(text, encoding="utf-8")


def write_json(path: Path) -> None:
    """A JSON list of records (``{"data": [...]}`` is read too), one record per line."""
    rows = ",\n".join("  " + json.dumps(record, ensure_ascii=False) for record in records())
    path.write_text(f"[\n{rows}\n]\n", encoding="utf-8")


def write_parquet(path: Path) -> None:
    """Two list-of-string columns, ``tokens`` and ``tags``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records()), path)


def write_dataset(path: Path) -> None:
    """``Dataset.save_to_disk`` with the tags as a ``ClassLabel`` (integers with names), the
    layout of hub datasets such as ``conll2003``; seqtagger maps the integers to their names."""
    import datasets

    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=NER_LABELS)),
        }
    )
    rows = records()
    columns = {
        "tokens": [row["tokens"] for row in rows],
        "tags": [[NER_LABELS.index(tag) for tag in row["tags"]] for row in rows],
    }
    if path.exists():
        shutil.rmtree(path)
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(path))


# file name -> writer; the format each stands for is the readers' choice by suffix (a folder:
# save_to_disk)
WRITERS: dict[str, Callable[[Path], None]] = {
    "ner.conll": write_conll,
    "pos.conllu": write_conllu,
    "ner.jsonl": write_jsonl,
    "ner.json": write_json,
    "ner.parquet": write_parquet,
    "ner_dataset": write_dataset,
}
TEXT_FILES = ("ner.conll", "pos.conllu", "ner.jsonl", "ner.json")


def main(argv: list[str] | None = None) -> int:
    """Write every example into OUT_DIR (default ``docs/examples``)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else REPO_ROOT / "docs" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    for name, write in WRITERS.items():
        write(out / name)
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
