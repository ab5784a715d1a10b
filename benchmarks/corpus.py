"""Corpora for the benchmarks: a generated one, EWT scaled up, and the overrides that read them.

Imported by ``benchmarks.benchmark`` and ``benchmarks.scaling``. Files are CoNLL-U (``ID FORM _
UPOS`` and six ``_`` columns), written line by line, so a corpus of any size is never held in
memory.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON"]
UPOS += ["PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"]
SPLIT_FILES = {"train": "train.conllu", "validation": "dev.conllu", "test": "test.conllu"}
EWT_FOLDER = "ud_en_ewt"
EWT_TRAIN = "en_ewt-ud-train.conllu"

Sentence = tuple[list[str], list[str]]
REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """The real corpora: ``$SEQTAGGER_DATA_DIR``, else ``../shared/data`` beside the project."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("SEQTAGGER_DATA_DIR", default))


def shown(path: str | Path) -> str:
    """``path`` for a JSON record, never a machine's own: ``$SEQTAGGER_DATA_DIR/...`` under
    the data folder, relative under the repository, else its last three parts (a run folder's
    ``NAME/checkpoints/best.ckpt``)."""
    path = Path(path)
    for root, prefix in ((data_dir(), "$SEQTAGGER_DATA_DIR/"), (REPO_ROOT, "")):
        for place in (path.absolute(), path.resolve()):
            if place.is_relative_to(root.resolve()):
                return prefix + str(place.relative_to(root.resolve()))
    return "/".join(path.absolute().parts[-3:]) if path.is_absolute() else str(path)


def shown_argv(argv: Sequence[str]) -> list[str]:
    """A command line with each argument that is an absolute path or names an existing file or
    folder :func:`shown`."""
    return [
        shown(arg) if arg and (Path(arg).is_absolute() or Path(arg).exists()) else arg
        for arg in argv
    ]


def write_conllu(path: Path, sentences: Iterable[Sentence]) -> tuple[int, int]:
    """Write ``(tokens, tags)`` pairs as CoNLL-U, streaming; returns (sentences, tokens)."""
    count = tokens = 0
    with path.open("w", encoding="utf-8") as file:
        for words, tags in sentences:
            for i, (word, tag) in enumerate(zip(words, tags, strict=True), start=1):
                file.write(f"{i}\t{word}\t_\t{tag}\t_\t_\t0\t_\t_\t_\n")
            file.write("\n")
            count, tokens = count + 1, tokens + len(words)
    return count, tokens


def read_conllu(path: Path) -> Iterator[Sentence]:
    """``(forms, UPOS tags)`` of each sentence of a CoNLL-U file (multiword and empty-node lines
    skipped), streaming."""
    words: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as file:
        for line in file:
            line = line.rstrip("\n")
            if not line:
                if words:
                    yield words, tags
                words, tags = [], []
                continue
            if line.startswith("#"):
                continue
            columns = line.split("\t")
            if columns[0].isdigit():
                words.append(columns[1])
                tags.append(columns[3])
    if words:
        yield words, tags


def synthetic_sentences(count: int, seed: int, vocab_size: int = 5000) -> Iterator[Sentence]:
    """Random sentences with EWT-like lengths (1-60, mostly 5-30); each word has one tag, so the
    task is learnable. Words are Zipf-distributed over ``vocab_size`` types."""
    rng = random.Random(seed)
    words = [f"w{i}{'abcdefgh'[i % 8] * (1 + i % 7)}" for i in range(vocab_size)]
    tag_of = {word: UPOS[i * 7 % len(UPOS)] for i, word in enumerate(words)}
    weights = [1 / (rank + 1) for rank in range(vocab_size)]
    for _ in range(count):
        length = max(1, min(60, int(rng.lognormvariate(2.6, 0.6))))
        tokens = rng.choices(words, weights=weights, k=length)
        yield tokens, [tag_of[word] for word in tokens]


def write_synthetic(folder: Path, train: int = 2000, seed: int = 0) -> Path:
    """A generated corpus in ``folder``: ``train`` sentences, a tenth as many for dev and test."""
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"train": train, "validation": max(train // 10, 8), "test": max(train // 10, 8)}
    for i, (split, name) in enumerate(SPLIT_FILES.items()):
        write_conllu(folder / name, synthetic_sentences(sizes[split], seed=seed + i))
    return folder


def shuffled_copies(sentences: list[Sentence], copies: int, seed: int) -> Iterator[Sentence]:
    """``copies`` passes over ``sentences``; every pass after the first shuffles the words of
    each sentence (with their tags), so the copies are new sentences over the same vocabulary."""
    rng = random.Random(seed)
    for copy in range(copies):
        for words, tags in sentences:
            if copy == 0:
                yield words, tags
                continue
            order = list(range(len(words)))
            rng.shuffle(order)
            yield [words[i] for i in order], [tags[i] for i in order]


def write_scaled(base: Path, folder: Path, scale: int, seed: int = 0) -> tuple[int, int]:
    """``folder/train.conllu`` = the train split of ``base`` (a folder with ``train.conllu``, or
    EWT's) ``scale`` times over, words shuffled; dev and test are the base's own, unscaled.
    Returns the train split's (sentences, tokens)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = {name: base / name for name in SPLIT_FILES.values()}
    if not source["train.conllu"].is_file():  # EWT's own file names
        ewt = {"train.conllu": "train", "dev.conllu": "dev", "test.conllu": "test"}
        source = {name: base / f"en_ewt-ud-{split}.conllu" for name, split in ewt.items()}
    train = list(read_conllu(source["train.conllu"]))
    counts = write_conllu(folder / "train.conllu", shuffled_copies(train, scale, seed))
    for name in ("dev.conllu", "test.conllu"):
        write_conllu(folder / name, read_conllu(source[name]))
    return counts


def files_overrides(folder: Path) -> list[str]:
    """Hydra overrides that train on the three CoNLL-U files of ``folder`` (UPOS, accuracy)."""
    return [
        "data=files",
        f"paths.data_dir={folder}",
        *(f"data.files.{split}={name}" for split, name in SPLIT_FILES.items()),
        "data.file_scheme=plain",
        "data.headline=acc",
    ]


def ewt_overrides(folder: Path | None = None) -> list[str]:
    """Hydra overrides for UD English-EWT from ``folder`` (default: the shared corpora), never
    downloaded."""
    return ["data=ud_ewt", f"paths.data_dir={folder or data_dir()}", "+data.download=false"]


def conll2003_overrides() -> list[str]:
    """Hydra overrides for CoNLL-2003 from the shared corpora (documents, for
    ``data.batch_unit=documents``)."""
    return ["data=conll2003", f"paths.data_dir={data_dir()}", "+data.download=false"]


def main(argv: Sequence[str] | None = None) -> None:
    """Write a benchmark corpus to a folder and print the overrides that train on it."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", type=Path, help="folder for train, dev and test .conllu")
    parser.add_argument("--sentences", type=int, default=2000, help="generated train sentences")
    parser.add_argument("--scale", type=int, default=None, help="EWT's train split N times over")
    parser.add_argument("--base", type=Path, default=None, help="what --scale scales (EWT)")
    args = parser.parse_args(argv)
    if args.scale is None:
        write_synthetic(args.out, train=args.sentences)
    else:
        write_scaled(args.base or data_dir() / EWT_FOLDER, args.out, args.scale)
    print("seqtagger-train " + " ".join(files_overrides(args.out)))
