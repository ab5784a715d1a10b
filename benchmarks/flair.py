"""flair's training step on UD English-EWT, sized like seqtagger's default BiLSTM.

    python -m venv .venv-flair
    .venv-flair/bin/pip install torch==2.13.0 && .venv-flair/bin/pip install flair==0.15.1
    .venv-flair/bin/python -m benchmarks flair [--batches 200] [--repeats 2] [--conllu FILE]

Runs in flair's own environment (flair pins its own dependencies; seqtagger is not imported).
The model is the nearest flair has to the default BiLSTM of ``python -m benchmarks train``:
learned word embeddings (100 dimensions, every training form: ``OneHotEmbeddings``), flair's
character embeddings (a character BiLSTM, 25 + 25 dimensions, over the training text's
characters; flair has no character CNN), one BiLSTM layer of 128 per direction, a linear softmax
head (``use_crf=False``), no reprojection, Adam at 0.002, gradient clipping at 5.0, batches of 32
shuffled sentences. The loop is ModelTrainer's inner step (``forward_loss``, backward, clip,
step) without its evaluation and logging, so both sides time the training step alone. Prints
training tokens/s per repeat.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from flair.data import Corpus, Dictionary, Sentence
from flair.embeddings import CharacterEmbeddings, OneHotEmbeddings, StackedEmbeddings
from flair.models import SequenceTagger

DEFAULT = Path(os.environ.get("SEQTAGGER_DATA_DIR", "data")) / "ud_en_ewt/en_ewt-ud-train.conllu"


def read_conllu(path: Path) -> list[Sentence]:
    """Sentences of word forms with their UPOS label (multiword and empty nodes skipped)."""
    sentences, words, tags = [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            if words:
                sentence = Sentence(words)
                for token, tag in zip(sentence, tags, strict=True):
                    token.add_label("upos", tag)
                sentences.append(sentence)
            words, tags = [], []
        elif not line.startswith("#"):
            columns = line.split("\t")
            if columns[0].isdigit():
                words.append(columns[1])
                tags.append(columns[3])
    return sentences


def char_dictionary(train: list[Sentence]) -> Dictionary:
    """The training text's characters (flair's default list is a download: no network here)."""
    chars = Dictionary()
    for character in sorted({c for sentence in train for token in sentence for c in token.text}):
        chars.add_item(character)
    return chars


def build(train: list[Sentence]) -> SequenceTagger:
    corpus = Corpus(train=train, dev=train[:1], test=train[:1], sample_missing_splits=False)
    embeddings = StackedEmbeddings(
        [
            OneHotEmbeddings.from_corpus(corpus, field="text", embedding_length=100, min_freq=1),
            CharacterEmbeddings(char_dictionary(train), char_embedding_dim=25, hidden_size_char=25),
        ]
    )
    return SequenceTagger(
        hidden_size=128,
        embeddings=embeddings,
        tag_dictionary=corpus.make_label_dictionary("upos", add_unk=False),
        tag_type="upos",
        use_crf=False,
        rnn_layers=1,
        reproject_embeddings=False,
    )


def run(train: list[Sentence], batches: int, seed: int) -> float:
    torch.manual_seed(seed)
    model = build(train).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    order = random.Random(seed).sample(train, len(train))
    tokens, start = 0, time.perf_counter()
    for step in range(batches):
        batch = order[step * 32 : (step + 1) * 32]
        loss, count = model.forward_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        (loss / count).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        tokens += sum(len(sentence) for sentence in batch)
    return tokens / (time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--conllu", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    train = read_conllu(args.conllu)
    print(f"torch threads: {torch.get_num_threads()}, {len(train):,} training sentences")
    speeds = [run(train, args.batches, seed) for seed in range(args.repeats)]
    print("flair: " + ", ".join(f"{speed:,.0f}" for speed in speeds) + " train tokens/s")


if __name__ == "__main__":
    main()
