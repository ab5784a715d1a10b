"""Tests for seqtagger.inference.tokenizer: one test per documented rule."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from seqtagger.inference.tokenizer import mark_ranges, tokenize, tokenize_with_offsets


def test_whitespace_and_punctuation() -> None:
    assert tokenize("  Hello,\tworld!\n") == ["Hello", ",", "world", "!"]
    assert tokenize('He said "no" (twice).') == [
        "He",
        "said",
        '"',
        "no",
        '"',
        "(",
        "twice",
        ")",
        ".",
    ]
    assert tokenize("?!") == ["?", "!"]


def test_empty_and_blank() -> None:
    assert tokenize("") == []
    assert tokenize(" \n\t ") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pi is 3.14.", ["pi", "is", "3.14", "."]),
        ("1,000 people", ["1,000", "people"]),
        ("$1,000,000.50!", ["$", "1,000,000.50", "!"]),
        ("1,2", ["1", ",", "2"]),
        ("12,3456", ["12", ",", "3456"]),
        ("192.168.0.1", ["192.168.0.1"]),
        ("v1.2.3 2.5mm", ["v1.2.3", "2.5mm"]),
        ("50%", ["50", "%"]),
    ],
)
def test_numbers(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_internal_hyphens_and_apostrophes() -> None:
    assert tokenize("a state-of-the-art model") == ["a", "state-of-the-art", "model"]
    assert tokenize("O'Neil and rock'n'roll") == ["O'Neil", "and", "rock'n'roll"]
    assert tokenize("pre- and -post") == ["pre", "-", "and", "-", "post"]
    assert tokenize("dogs' bones") == ["dogs", "'", "bones"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("don't", ["do", "n't"]),
        ("can't", ["ca", "n't"]),
        ("it's", ["it", "'s"]),
        ("we'll", ["we", "'ll"]),
        ("they're", ["they", "'re"]),
        ("I've", ["I", "'ve"]),
        ("I'm", ["I", "'m"]),
        ("she'd", ["she", "'d"]),
        ("DON'T", ["DO", "N'T"]),
        ("isn’t", ["is", "n’t"]),
        ("O'Neil's", ["O'Neil", "'s"]),
        ("it's.", ["it", "'s", "."]),
    ],
)
def test_clitics(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://x.org/a?b=1.", ["see", "https://x.org/a?b=1", "."]),
        ("(http://x.com/it's).", ["(", "http://x.com/it's", ")", "."]),
        ("www.example.com,", ["www.example.com", ","]),
        ("mail me@ex.com!", ["mail", "me@ex.com", "!"]),
        ("a.b+c@mail.co.uk", ["a.b+c@mail.co.uk"]),
    ],
)
def test_urls_and_emails(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the U.S. and", ["the", "U.S.", "and"]),
        ("e.g., i.e.", ["e.g.", ",", "i.e."]),
        ("U.S.A. won", ["U.S.A.", "won"]),
        ("Mr. Smith", ["Mr.", "Smith"]),
        ("approx. 3", ["approx", ".", "3"]),
        ("Acme Inc.'s", ["Acme", "Inc.", "'s"]),
        ("the U.S.’s", ["the", "U.S.", "’s"]),
        ("end.Start", ["end", ".", "Start"]),
    ],
)
def test_abbreviations(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_ellipsis_and_dashes() -> None:
    assert tokenize("wait... what") == ["wait", "...", "what"]
    assert tokenize("so…") == ["so", "…"]
    assert tokenize("yes -- no") == ["yes", "--", "no"]


def test_unicode_words() -> None:
    assert tokenize("Straße in Zürich, naïve.") == ["Straße", "in", "Zürich", ",", "naïve", "."]


@pytest.mark.parametrize(
    "text",
    [
        "José Martínez visited Bogotá .",
        "Straße in Zürich, naïve Ångström-café; U.S. é.g. don't Élodie's",
        "mail josé@bogotá.co or see https://x.org/josé.",
    ],
)
def test_decomposed_text_is_tokenized_like_composed_text(text: str) -> None:
    """NFD text (accents as combining marks, as macOS file names and some editors write them)
    gives the NFC text's tokens, decomposed: a mark is never a token or a token's start."""
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert tokenize(nfd) == [unicodedata.normalize("NFD", t) for t in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("e\u0301te\u0301", ["e\u0301te\u0301"]),
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # Devanagari vowel signs (Mc) and virama (Mn)
        ("\U00011107\U00011127 x", ["\U00011107\U00011127", "x"]),  # Chakma: plane 1
        ("葛\U000e0100", ["葛\U000e0100"]),  # an ideographic variation selector: plane 14
        ("wow!\u0301", ["wow", "!\u0301"]),  # a mark on punctuation stays with it
    ],
)
def test_combining_marks_stay_with_the_character_before_them(
    text: str, expected: list[str]
) -> None:
    assert tokenize(text) == expected


def test_mark_planes_hold_every_combining_mark() -> None:
    """The tokenizer lists the marks of planes 0, 1 and 14 only: no other plane has one."""
    assert mark_ranges() == mark_ranges((range(sys.maxunicode + 1),))


def test_large_input_is_tokenized_like_its_parts() -> None:
    """1.5 MB of text gives the tokens of its sentences (speed: python -m benchmarks data)."""
    sentence = "The U.S. economy grew 3.5% in 2023, didn't it? Officials said it's fine. "
    tokens = tokenize(sentence * 20_000)
    assert tokens == tokenize(sentence) * 20_000


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("abc.", ["abc", "."]), ("a+", ["a", "+"]), ("x@", ["x", "@"])],
)
def test_long_lines_without_spaces_are_tagged_whole(unit: str, expected: list[str]) -> None:
    """200 KB without a space (quadratic before: about a minute each; the
    timing is in python -m benchmarks data, not here)."""
    repeats = 200_000 // len(unit)
    assert tokenize(unit * repeats) == expected * repeats


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok 👍🏽!", ["ok", "👍🏽", "!"]),  # a skin-tone modifier
        ("👩🏽\u200d💻 at work", ["👩🏽\u200d💻", "at", "work"]),  # a zero-width-joiner sequence
        ("🏳️\u200d🌈🇩🇪🇫🇷", ["🏳️\u200d🌈", "🇩🇪", "🇫🇷"]),  # flags: regional indicator pairs
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", None),  # tag sequence
        ("1️⃣ ❤️", ["1️⃣", "❤️"]),  # a keycap, a variation selector
    ],
)
def test_emoji_grapheme_clusters_stay_whole(text: str, expected: list[str] | None) -> None:
    assert tokenize(text) == (expected if expected is not None else [text])


def test_offsets_slice_the_input() -> None:
    text = (
        "  “Hi,” said Mr. Smith\tof Acme Inc.’s office 👍🏽 e\u0301te\u0301 — €1,250.50, don't!\n"
    )
    triples = tokenize_with_offsets(text)
    assert [token for token, _, _ in triples] == tokenize(text)
    assert all(text[start:end] == token for token, start, end in triples)
    assert triples[:2] == [("“", 2, 3), ("Hi", 3, 5)]
    assert tokenize_with_offsets("") == []
