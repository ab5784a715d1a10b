"""Tests for seqtagger.inference.sentences: one test per documented rule."""

from __future__ import annotations

import pytest

from seqtagger.inference.sentences import split_sentences
from seqtagger.inference.tokenizer import tokenize_with_offsets


def sentences_of(text: str) -> list[str]:
    """The sentences of ``text``, each as the input's slice from its first to its last token."""
    return [text[s[0][1] : s[-1][2]] for s in split_sentences(tokenize_with_offsets(text))]


def test_three_sentences_on_one_line() -> None:
    text = "Obama visited Berlin. Then he flew to Tokyo! Merkel stayed home."
    assert sentences_of(text) == [
        "Obama visited Berlin.",
        "Then he flew to Tokyo!",
        "Merkel stayed home.",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("Wait... What?", ["Wait...", "What?"]),
        ("Wait…. Go", ["Wait….", "Go"]),
        ("Nothing ends here", ["Nothing ends here"]),
    ],
)
def test_stops_and_runs_of_stops(text: str, expected: list[str]) -> None:
    assert sentences_of(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He said “no.” Then he left.", ["He said “no.”", "Then he left."]),
        ("She left (for good.) He stayed.", ["She left (for good.)", "He stayed."]),
        ('He left. "Hi," she said.', ["He left.", '"Hi," she said.']),
        ("He left. (She stayed.)", ["He left.", "(She stayed.)"]),
    ],
)
def test_quotes_and_brackets_after_the_stop(text: str, expected: list[str]) -> None:
    assert sentences_of(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "wait... what now",
        "It costs approx. nothing.",
        "The U.S. President met Mr. Smith and Acme Inc. staff.",
        "J. K. Rowling wrote it.",
        "Pi is 3.14 and e is 2.72 today.",
        "See https://x.org/A.B or mail Me@Ex.Com now.",
    ],
)
def test_abbreviations_initials_numbers_and_addresses_do_not_end_sentences(text: str) -> None:
    assert sentences_of(text) == [text]


def test_empty_input_has_no_sentence() -> None:
    assert split_sentences([]) == []
