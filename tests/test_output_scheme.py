"""Span tags come out in IOB2 by default, whatever scheme the model was trained in or its corpus
file used; ``Predictor.labels`` lists the output's tags and ``train_labels`` the model's."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from itertools import chain
from pathlib import Path

import pytest

from seqtagger.data.schemes import convert_tags, validate_tags
from seqtagger.inference import Predictor
from seqtagger.inference.records import output_labels
from seqtagger.models.trained import TrainedTagger

SENTENCES = [["Anna", "Smith", "visited", "Paris", "."], ["EU"], ["Oslo", "and", "Lima", "Smith"]]


@pytest.fixture
def iob1_model(tiny_checkpoint: Path) -> TrainedTagger:
    """The tiny NER model as if its corpus files were IOB1 (as CoNLL-2003's are)."""
    model = TrainedTagger.from_checkpoint(tiny_checkpoint)
    model.tasks = [replace(task, file_scheme="iob1") for task in model.tasks]
    return model


def test_span_tags_come_out_in_iob2_by_default(iob1_model: TrainedTagger):
    predictor = Predictor(iob1_model, device="cpu")
    assert (predictor.scheme, predictor.train_scheme) == ("iob2", "bioes")
    tagged = predictor.predict(SENTENCES)
    assert all(validate_tags(tags, "iob2") == [] for tags in tagged)
    assert set(chain(*tagged)) <= set(predictor.labels)
    iob1 = Predictor(iob1_model, device="cpu", scheme="iob1").predict(SENTENCES)
    assert iob1 == [convert_tags(tags, "iob2", "iob1") for tags in tagged]


def test_labels_are_the_outputs_and_train_labels_the_models(iob1_model: TrainedTagger):
    predictor = Predictor(iob1_model, device="cpu")
    train_labels = iob1_model.task_labels[predictor.task.name]
    assert predictor.train_labels == train_labels
    assert any(label.startswith(("E-", "S-")) for label in train_labels)
    types = sorted({label[2:] for label in train_labels if label != "O"})
    assert predictor.labels == ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]
    bioes = Predictor(iob1_model, device="cpu", scheme="bioes")
    assert sorted(bioes.labels) == sorted(train_labels)


def test_tags_without_spans_are_their_own_labels():
    assert output_labels(["NOUN", "VERB", "ADJ"], "plain") == ["NOUN", "VERB", "ADJ"]
    labels = ["O", "S-LOC", "B-PER", "E-PER"]
    assert output_labels(labels, "iob1") == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_the_command_writes_iob2(tiny_checkpoint: Path, tmp_path: Path):
    text = tmp_path / "in.txt"
    text.write_text("\n".join(" ".join(tokens) for tokens in SENTENCES) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "seqtagger.predict", "--ckpt", str(tiny_checkpoint), str(text)],
        capture_output=True,
        text=True,
        check=True,
    )
    sentences = [block for block in done.stdout.split("\n\n") if block.strip()]
    tags = [[line.split("\t")[1] for line in block.splitlines()] for block in sentences]
    assert len(tags) == len(SENTENCES)
    assert all(validate_tags(sentence, "iob2") == [] for sentence in tags)
    assert not any(tag.startswith(("E-", "S-")) for tag in chain(*tags))
