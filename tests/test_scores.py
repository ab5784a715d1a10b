"""Confidences of predicted tags: ``span_score``, ``Predictor.predict_scored`` (also with a CRF,
document context and a document memory) and ``seqtagger-predict --scores``."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from seqtagger.errors import ConfigError
from seqtagger.inference.predictor import Predictor
from seqtagger.inference.scores import span_score
from tests.documents import read_documents, write_ner_documents
from tests.helpers import compose_train, make_ner_sentence, tiny_ner_overrides
from tests.predict_cli import cli, jsonl


def sentences_with_names(count: int, seed: int = 3) -> list[list[str]]:
    rng = random.Random(seed)
    return [make_ner_sentence(rng)[0] for _ in range(count)]


def test_span_score_is_the_least_token_score() -> None:
    scores = [0.9, 0.55, 0.8, 0.99]
    assert span_score(scores, 0, 4) == 0.55
    assert span_score(scores, 2, 4) == 0.8
    assert span_score(scores, 3, 4) == 0.99
    for start, end in ((2, 2), (3, 5), (-1, 2)):
        with pytest.raises(ValueError, match=rf"span \[{start}, {end}\)"):
            span_score(scores, start, end)


def test_predict_scored_gives_predicts_tags_and_their_probabilities(
    tiny_checkpoint: Path,
) -> None:
    """A linear head: each score is the softmax probability of the returned tag, from
    ``Tagger.probabilities`` on the same batch; the tags are ``predict``'s."""
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", batch_size=4)
    sentences = sentences_with_names(9)
    scored = predictor.predict_scored(sentences)
    assert [tags for tags, _ in scored] == predictor.predict(sentences)
    batch = predictor._collate(sentences, None, None)
    with torch.inference_mode():
        probabilities = predictor.model.tagger.probabilities(batch, predictor.temperature)["tags"]
    for row, (sentence, (_, scores)) in enumerate(zip(sentences, scored, strict=True)):
        assert len(scores) == len(sentence)
        best = probabilities[row, : len(sentence)].max(-1).values.tolist()
        assert scores == pytest.approx(best, abs=1e-6)


def test_spans_carry_the_least_score_of_their_tokens(tiny_checkpoint: Path) -> None:
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    tokens = ["Anna", "Berg", "visited", "Oslo", "."]
    tags = ["B-PER", "I-PER", "O", "B-LOC", "O"]
    spans = predictor.spans(tokens, tags, [0.9, 0.6, 0.99, 0.7, 0.8])
    assert [(span["type"], span["score"]) for span in spans] == [("PER", 0.6), ("LOC", 0.7)]
    assert all("score" not in span for span in predictor.spans(tokens, tags))


@pytest.fixture
def varied_scored_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the (tiny, mostly-O) model predict many entities, each tag with its own score, so
    span checks are not vacuous."""

    def fake_scored(self: Predictor, sentences, contexts=None, documents=None):
        n = len(self.labels)
        return [
            (
                [(len(tok) * 7 + i) % n for i, tok in enumerate(s)],
                [1 / (2 + i) for i in range(len(s))],
            )
            for s in sentences
        ]

    monkeypatch.setattr(Predictor, "predict_batch_scored", fake_scored)


def test_temperature_changes_the_scores_not_the_tags(tiny_checkpoint: Path) -> None:
    sentences = sentences_with_names(5)
    plain = Predictor.from_checkpoint(tiny_checkpoint, device="cpu").predict_scored(sentences)
    hot = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", temperature=3.0)
    warmer = hot.predict_scored(sentences)
    assert [tags for tags, _ in warmer] == [tags for tags, _ in plain]
    for (_, cold_scores), (_, hot_scores) in zip(plain, warmer, strict=True):
        assert all(h < c for h, c in zip(hot_scores, cold_scores, strict=True))
    with pytest.raises(ConfigError, match="temperature=0"):
        Predictor.from_checkpoint(tiny_checkpoint, device="cpu", temperature=0)


@pytest.fixture(scope="module")
def crf_memory_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(best checkpoint, corpus folder)`` of a tiny CRF tagger with document context and a
    document memory, trained for one epoch on documents of 3-5 sentences."""
    from seqtagger.train import train

    folder = tmp_path_factory.mktemp("scores_corpus")
    write_ner_documents(folder, 11, {"train.txt": 12, "dev.txt": 3, "test.txt": 4})
    run_dir = tmp_path_factory.mktemp("scores_run")
    overrides = [
        *tiny_ner_overrides(folder),
        "model/head=crf",
        "model/memory=document",
        "data.batch_unit=documents",
        "data.batch_size=3",
        "data.context=2",
        "trainer.max_epochs=1",
        "test=false",
    ]
    train(compose_train(overrides, run_dir))
    return sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))[-1], folder


def test_crf_scores_with_context_and_memory_do_not_depend_on_batching(crf_memory_run) -> None:
    """The CRF's marginals of the Viterbi tags, read with the same documents, context and
    memory as ``predict``: one sentence a batch gives the same tags and scores as 8."""
    ckpt, corpus = crf_memory_run
    tokens, documents = read_documents(corpus / "test.txt")
    batched = Predictor.from_checkpoint(ckpt, device="cpu", batch_size=8, scheme="bioes")
    assert batched.reads_documents and batched.context == 2
    scored = batched.predict_scored(tokens, documents)
    assert [tags for tags, _ in scored] == batched.predict(tokens, documents)
    alone = Predictor.from_checkpoint(ckpt, device="cpu", batch_size=1, scheme="bioes")
    for (tags, scores), (tags_alone, scores_alone) in zip(
        scored, alone.predict_scored(tokens, documents), strict=True
    ):
        assert tags == tags_alone
        assert scores == pytest.approx(scores_alone, abs=1e-5)
        assert all(0.0 < score <= 1.0 + 1e-6 for score in scores)


def test_cli_scores_in_jsonl_and_conll(
    tiny_checkpoint: Path, tmp_path: Path, capsys, varied_scored_tags
) -> None:
    sentences = sentences_with_names(6)
    source = tmp_path / "in.tok"
    source.write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf-8")
    args = ("--ckpt", tiny_checkpoint, source, "--input-format", "tokens", "--scores")
    code, out, err = cli(capsys, *args, "--format", "jsonl")
    assert code == 0, err
    records = jsonl(out)
    expected = Predictor.from_checkpoint(tiny_checkpoint, device="cpu").predict_scored(sentences)
    for record, (tags, scores) in zip(records, expected, strict=True):
        assert record["tags"] == tags
        assert record["scores"] == [round(score, 4) for score in scores]
        for span in record["spans"]:
            assert span["score"] == round(min(scores[span["start"] : span["end"]]), 4)
    assert any(record["spans"] for record in records)

    code, out, err = cli(capsys, *args)
    assert code == 0, err
    blocks = [block.split("\n") for block in out.rstrip("\n").split("\n\n")]
    rows = [[line.split("\t") for line in block] for block in blocks]
    assert [[row[0] for row in block] for block in rows] == sentences
    assert [[float(row[2]) for row in block] for block in rows] == [
        [round(score, 4) for score in scores] for _, scores in expected
    ]
    code, out, err = cli(capsys, *args[:-1])
    assert code == 0, err
    assert all(len(line.split("\t")) == 2 for line in out.splitlines() if line)
