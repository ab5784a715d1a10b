"""The text API (``Predictor(...)("raw text")``, ``seqtagger.inference.text``) and the character
offsets of ``seqtagger-predict``'s JSON Lines output on raw text."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqtagger.errors import ConfigError
from seqtagger.inference import Predictor
from seqtagger.inference.text import Document, document_bounds
from tests.predict_cli import cli, jsonl

CRF_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "format1" / "crf" / "last.ckpt"
PARAGRAPH = (
    "“Anna Smith visited Oslo,” said Boris 👍🏽. Then Dana Li flew to Lima 🇵🇪! "
    "The Red Cross met Acme Corp. in Paris.\n"
    "Mail hana@acme.co or see https://acme.co/p?id=1. Acme Inc.'s shares cost €1,250.50 "
    "and 👩🏽‍💻 Hana said: ‘fine’."
)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.from_checkpoint(CRF_CHECKPOINT, device="cpu")


def assert_offsets_slice(text: str, documents: list[Document]) -> None:
    """Every document, sentence, token and span is its own slice of the input."""
    for document in documents:
        assert text[document.start : document.end] == document.text
        for sentence in document.sentences:
            assert text[sentence.start : sentence.end] == sentence.text
            for token in sentence.tokens:
                assert text[token.start : token.end] == token.text
            for span in sentence.spans:
                assert text[span.start : span.end] == span.text


def test_offsets_slice_a_paragraph_of_quotes_emoji_addresses_and_prices(
    predictor: Predictor,
) -> None:
    [document] = predictor(PARAGRAPH)
    assert_offsets_slice(PARAGRAPH, [document])
    assert [s.text for s in document.sentences][:3] == [
        "“Anna Smith visited Oslo,” said Boris 👍🏽.",
        "Then Dana Li flew to Lima 🇵🇪!",
        "The Red Cross met Acme Corp. in Paris.",
    ]
    tokens = [token.text for sentence in document.sentences for token in sentence.tokens]
    for whole in ("👍🏽", "🇵🇪", "👩🏽‍💻", "hana@acme.co", "https://acme.co/p?id=1", "Inc.", "'s"):
        assert whole in tokens
    assert tokens[tokens.index("€") + 1] == "1,250.50"
    labelled = {(span.text, span.label) for span in document.spans}
    assert {("Anna Smith", "PER"), ("Oslo", "LOC"), ("Red Cross", "ORG")} <= labelled
    assert all(span.score is None for span in document.spans)  # no confidence computed


def test_blank_lines_and_list_items_are_documents(predictor: Predictor) -> None:
    first, second = "Anna visited Oslo.\nBoris met Dana.", "  \n Hana Li flew to Lima. "
    text = f"{first}\n \n\n{second}"
    documents = predictor(text)
    assert [d.text for d in documents] == [first, "Hana Li flew to Lima."]
    assert [d.source for d in documents] == [0, 0]
    assert_offsets_slice(text, documents)
    listed = predictor([first, "", second])
    assert [(d.source, d.text) for d in listed] == [(0, first), (2, "Hana Li flew to Lima.")]
    assert_offsets_slice(second, listed[1:])
    assert predictor("") == [] and predictor([]) == []


@pytest.mark.parametrize("model", ["crf", "context", "memory"])
def test_documents_are_tagged_as_the_token_api_tags_them(model: str) -> None:
    """Same tags as ``predict`` given the sentences and their document ids, also for a model
    with document context or a document memory (which read the documents' other sentences)."""
    predictor = Predictor.from_checkpoint(
        CRF_CHECKPOINT.parents[1] / model / "last.ckpt", device="cpu"
    )
    assert predictor.context or predictor.reads_documents or model == "crf"
    text = "Anna Smith visited Oslo. Then Boris met the Red Cross!\n\nDana flew to Lima."
    documents = predictor(text)
    sentences = [[t.text for t in s.tokens] for d in documents for s in d.sentences]
    assert len(sentences) == 3
    tags = predictor.predict(sentences, [1, 1, 2])
    assert [[t.tag for t in s.tokens] for d in documents for s in d.sentences] == tags


def test_sentence_per_line_keeps_each_line_one_sentence(predictor: Predictor) -> None:
    text = "Anna visited Oslo. Boris stayed.\nDana flew to Lima."
    [split] = predictor(text)
    [per_line] = predictor(text, sentence_per_line=True)
    assert [s.text for s in split.sentences] == [
        "Anna visited Oslo.",
        "Boris stayed.",
        "Dana flew to Lima.",
    ]
    assert [s.text for s in per_line.sentences] == text.split("\n")
    assert_offsets_slice(text, [per_line])


def test_to_dict_is_json_ready_and_has_score_only_when_computed(predictor: Predictor) -> None:
    [document] = predictor("Anna Smith visited Oslo.")
    record = document.to_dict()
    span = record["sentences"][0]["spans"][0]
    assert span == {"start": 0, "end": 10, "text": "Anna Smith", "label": "PER"}
    assert record["sentences"][0]["tokens"][0] == {
        "text": "Anna",
        "start": 0,
        "end": 4,
        "tag": "B-PER",
    }


def test_a_text_of_the_wrong_type_is_refused(predictor: Predictor) -> None:
    with pytest.raises(ConfigError, match="expected a str or a list of str"):
        predictor([["Anna", "Smith"]])


def test_document_bounds_strip_blank_lines_and_edges() -> None:
    assert document_bounds(" a\n\n\tb c \n \n") == [(1, 2), (5, 8)]
    assert document_bounds("a\r\n\r\nb") == [(0, 1), (5, 6)]
    assert document_bounds(" \n ") == []


def test_predict_jsonl_on_raw_text_splits_sentences_and_gives_char_offsets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = PARAGRAPH.split("\n")
    source = tmp_path / "in.txt"
    source.write_text(PARAGRAPH + "\n", encoding="utf-8")
    code, out, err = cli(capsys, "--ckpt", CRF_CHECKPOINT, source, "--format", "jsonl")
    assert code == 0, err
    records = jsonl(out)
    assert [r["line"] for r in records] == [1, 1, 1, 2, 2]
    assert sum(len(r["spans"]) for r in records) >= 4
    for record in records:
        line = lines[record["line"] - 1]
        pieces = zip(record["tokens"], record["char_start"], record["char_end"], strict=True)
        assert all(line[start:end] == token for token, start, end in pieces)
        for span in record["spans"]:
            tokens = record["tokens"][span["start"] : span["end"]]
            assert span["text"] == " ".join(tokens)  # token indices keep their meaning
            assert span["char_start"] == record["char_start"][span["start"]]
            assert span["char_end"] == record["char_end"][span["end"] - 1]
    assert records[1]["tokens"][-3:] == ["Lima", "🇵🇪", "!"]


def test_predict_sentence_per_line_keeps_each_line_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.txt"
    source.write_text(PARAGRAPH + "\n", encoding="utf-8")
    args = ("--ckpt", CRF_CHECKPOINT, source, "--format", "jsonl", "--sentence-per-line")
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    records = jsonl(out)
    assert [r["line"] for r in records] == [1, 2]
    assert [r["char_start"][0] for r in records] == [0, 0]


def test_scores_give_each_span_the_least_score_of_its_tokens(predictor: Predictor) -> None:
    text = "Anna Smith visited Oslo. Then Boris met the Red Cross!"
    documents = predictor(text, scores=True)
    assert [[t.tag for t in s.tokens] for s in documents[0].sentences] == [
        [t.tag for t in s.tokens] for s in predictor(text)[0].sentences
    ]
    words = [[t.text for t in s.tokens] for s in documents[0].sentences]
    token_scores = [scores for _, scores in predictor.predict_scored(words, [1, 1])]
    for sentence, scores in zip(documents[0].sentences, token_scores, strict=True):
        assert sentence.spans
        for span in sentence.spans:
            inside = [i for i, t in enumerate(sentence.tokens) if span.start <= t.start < span.end]
            assert span.score == min(scores[i] for i in inside)
            assert 0 < span.score <= 1 and span.to_dict()["score"] == span.score
