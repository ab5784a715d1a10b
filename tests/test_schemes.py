"""Tests for seqtagger.data.schemes: conlleval span rules, conversion, validation."""

from __future__ import annotations

import random

import pytest

from seqtagger.data.schemes import (
    SCHEMES,
    SchemeError,
    Span,
    check_scheme,
    check_split_tags,
    convert_tags,
    get_spans,
    label_types,
    spans_to_tags,
    split_tag,
    to_iob2_prefixes,
    validate_tags,
)

CHUNK_SCHEMES = ("iob1", "iob2", "bioes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}


def _t(text: str) -> list[str]:
    return text.split()


def spans(text: str, scheme: str = "iob2", strict: bool = False) -> list[tuple[str, int, int]]:
    return [(s.type, s.start, s.end) for s in get_spans(text.split(), scheme, strict)]


def random_tags(rng: random.Random, scheme: str, n: int) -> list[str]:
    choices = ["O"] + [f"{p}-{t}" for p in PREFIXES[scheme] for t in ("A", "B-C")]
    return [rng.choice(choices) for _ in range(n)]


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("B-PER", ("B", "PER")), ("O", ("O", "")), ("S-B-C", ("S", "B-C")), ("E-X", ("E", "X"))],
)
def test_split_tag(tag: str, expected: tuple[str, str]) -> None:
    assert split_tag(tag) == expected


@pytest.mark.parametrize("tag", ["", "B", "B-", "X-PER", "b-per", "O-PER", "PER", "B-P ER"])
def test_split_tag_rejects_malformed(tag: str) -> None:
    with pytest.raises(SchemeError, match="malformed tag"):
        split_tag(tag)


def test_check_scheme() -> None:
    assert check_scheme("IOB2") == "iob2"
    with pytest.raises(SchemeError, match="plain, iob1, iob2, bioes"):
        check_scheme("bilou")
    assert issubclass(SchemeError, ValueError)


@pytest.mark.parametrize(
    ("tags", "scheme", "expected"),
    [
        ("B-PER I-PER O B-LOC", "iob2", [("PER", 0, 2), ("LOC", 3, 4)]),
        ("B-PER I-LOC", "iob2", [("PER", 0, 1), ("LOC", 1, 2)]),
        ("B-X B-X", "iob2", [("X", 0, 1), ("X", 1, 2)]),
        ("O I-X I-X", "iob2", [("X", 1, 3)]),  # lenient: I after O starts a chunk
        ("I-X I-Y I-Y", "iob2", [("X", 0, 1), ("Y", 1, 3)]),
        ("O O B-X I-X", "iob2", [("X", 2, 4)]),  # chunk ending at sentence end
        ("O O", "iob2", []),
        ("", "iob2", []),
        ("I-X I-X B-X I-X O I-Y", "iob1", [("X", 0, 2), ("X", 2, 4), ("Y", 5, 6)]),
        ("B-LONG-T I-LONG-T", "iob2", [("LONG-T", 0, 2)]),
        ("B-X I-X E-X S-X S-X O", "bioes", [("X", 0, 3), ("X", 3, 4), ("X", 4, 5)]),
        ("B-X E-X E-X I-X", "bioes", [("X", 0, 2), ("X", 2, 3), ("X", 3, 4)]),
        ("S-X I-X E-X", "bioes", [("X", 0, 1), ("X", 1, 3)]),
        ("O E-X B-Y I-X", "bioes", [("X", 1, 2), ("Y", 2, 3), ("X", 3, 4)]),
        ("B-X I-X", "bioes", [("X", 0, 2)]),  # unclosed BIOES chunk still ends at sentence end
    ],
)
def test_get_spans_lenient(tags: str, scheme: str, expected: list) -> None:
    assert spans(tags, scheme) == expected


@pytest.mark.parametrize(
    ("tags", "scheme", "expected"),
    [
        ("O I-X I-X B-X", "iob2", [("X", 3, 4)]),
        ("B-X I-Y I-Y", "iob2", [("X", 0, 1)]),
        ("I-X I-X B-X", "iob1", [("X", 0, 2), ("X", 2, 3)]),  # IOB1: strict == lenient
        ("O E-X B-Y I-X E-X S-X E-X", "bioes", [("Y", 2, 3), ("X", 5, 6), ("X", 6, 7)]),
    ],
)
def test_get_spans_strict_drops_chunks_not_starting_with_b(
    tags: str, scheme: str, expected: list
) -> None:
    assert spans(tags, scheme, strict=True) == expected


def test_get_spans_plain_and_bad_prefixes() -> None:
    assert get_spans(["NN", "VB"], "plain") == []
    with pytest.raises(SchemeError, match=r"position 1: tag 'E-X' is not valid in scheme iob2"):
        get_spans(["B-X", "E-X"], "iob2")
    with pytest.raises(SchemeError, match="position 0: malformed tag 'NN'"):
        get_spans(["NN"], "iob1")


def test_to_iob2_prefixes_bioes() -> None:
    tags = _t("S-X E-X I-X B-X E-X O E-Y")
    assert [p for p, _ in to_iob2_prefixes(tags, "bioes")] == list("BBBBIOI")
    with pytest.raises(SchemeError, match="plain"):
        to_iob2_prefixes(["NN"], "plain")


def test_spans_to_tags_all_schemes() -> None:
    spans_ = [Span("X", 0, 2), Span("X", 2, 3), Span("Y", 4, 5), Span("X", 5, 8)]
    assert spans_to_tags(spans_, 9, "iob2") == _t("B-X I-X B-X O B-Y B-X I-X I-X O")
    assert spans_to_tags(spans_, 9, "iob1") == _t("I-X I-X B-X O I-Y I-X I-X I-X O")
    assert spans_to_tags(spans_, 9, "bioes") == _t("B-X E-X S-X O S-Y B-X I-X E-X O")


@pytest.mark.parametrize(
    "bad",
    [[Span("X", 0, 2), Span("Y", 1, 3)], [Span("X", 2, 2)], [Span("X", 3, 5)], [Span("", 0, 1)]],
)
def test_spans_to_tags_rejects_bad_spans(bad: list[Span]) -> None:
    with pytest.raises(SchemeError):
        spans_to_tags(bad, 4, "iob2")


def test_convert_tags_examples_and_errors() -> None:
    assert convert_tags(_t("I-X I-X B-X O I-Y"), "iob1", "iob2") == _t("B-X I-X B-X O B-Y")
    assert convert_tags(_t("O I-X"), "iob2", "bioes") == ["O", "S-X"]
    tags = ["O", "I-X"]
    same = convert_tags(tags, "iob2", "IOB2")
    assert same == tags and same is not tags
    with pytest.raises(SchemeError, match="from plain to iob2"):
        convert_tags(["NN"], "plain", "iob2")
    with pytest.raises(SchemeError, match="from bioes to plain"):
        convert_tags(["O"], "bioes", "plain")


def test_convert_tags_preserves_lenient_spans_and_yields_valid_tags() -> None:
    rng = random.Random(0)
    for _ in range(300):
        source = rng.choice(CHUNK_SCHEMES)
        tags = random_tags(rng, source, rng.randint(0, 10))
        for target in CHUNK_SCHEMES:
            converted = convert_tags(tags, source, target)
            assert len(converted) == len(tags)
            assert get_spans(converted, target) == get_spans(tags, source)
            if target != source:
                assert validate_tags(converted, target) == []
                # well-formed tags have no ill-formed chunks: strict == lenient
                assert get_spans(converted, target, strict=True) == get_spans(converted, target)


def test_validate_tags_messages() -> None:
    assert validate_tags(_t("O B-PER I-PER"), "iob2") == []
    assert validate_tags(_t("O I-PER"), "iob2") == ["position 1: I-PER after O is not valid IOB2"]
    assert validate_tags(_t("I-X B-X I-Y"), "iob1") == []
    assert validate_tags(_t("O B-X"), "iob1") == [
        "position 1: B-X after O is not valid IOB1 (B-X only starts a chunk right after another X"
        " chunk)"
    ]
    assert validate_tags(_t("B-X E-X S-Y O"), "bioes") == []
    problems = validate_tags(_t("B-X I-Y E-Y NN B-Z"), "bioes")
    assert problems == [
        "position 0: B-X followed by I-Y is not valid BIOES (chunk not closed)",
        "position 3: malformed tag 'NN': expected 'O' or PREFIX-TYPE with PREFIX in B, I, E, S",
        "position 4: B-Z followed by the sentence end is not valid BIOES (chunk not closed)",
    ]
    assert validate_tags(["S-X"], "iob2") == ["position 0: prefix S of 'S-X' is not used in iob2"]
    assert validate_tags(["NN", "", "VB"], "plain") == [
        "position 1: tag '' is empty or contains whitespace"
    ]


def test_validate_tags_agrees_with_strict_mode_for_iob2() -> None:
    rng = random.Random(1)
    for _ in range(200):
        tags = random_tags(rng, "iob2", rng.randint(0, 8))
        valid = validate_tags(tags, "iob2") == []
        # an IOB2 sequence is invalid exactly when some chunk starts with I-, which strict drops
        assert valid == (get_spans(tags, "iob2", strict=True) == get_spans(tags, "iob2"))


def test_label_types() -> None:
    assert label_types(["O", "B-PER", "I-LOC", "S-PER", "E-B-C"]) == ["B-C", "LOC", "PER"]
    assert label_types(["O"]) == []
    with pytest.raises(SchemeError):
        label_types(["O", "<pad>"])


def test_schemes_constant() -> None:
    assert SCHEMES == ("plain", "iob1", "iob2", "bioes")


def test_scheme_labels_lists_every_prefix_per_type() -> None:
    from seqtagger.data.schemes import scheme_labels

    assert scheme_labels(["LOC", "PER"], "iob2") == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert scheme_labels(["X"], "bioes") == ["O", "B-X", "I-X", "E-X", "S-X"]
    with pytest.raises(SchemeError):
        scheme_labels(["X"], "plain")


def _check(tag_lists: list[list[str]], scheme: str) -> None:
    check_split_tags(
        tag_lists, scheme, name="data.files.dev", key="data.file_scheme", locate=lambda i: f"f:{i}"
    )


def test_check_split_tags_names_split_and_sentence_of_a_bad_tag() -> None:
    """A tag the scheme cannot have names the split and where it is."""
    tags = [_t("O O"), _t("B-PER I-PER O O O O O O 0")]
    with pytest.raises(SchemeError, match=r"data\.files\.dev: f:1: position 8: malformed tag '0'"):
        _check(tags, "iob2")
    with pytest.raises(SchemeError, match=r"f:0: position 1: tag 'E-LOC' is not valid in scheme"):
        _check([_t("B-LOC E-LOC")], "iob2")
    with pytest.raises(SchemeError, match=r"set data\.file_scheme to the file's tag scheme"):
        _check([["NO UN"]], "plain")


def test_check_split_tags_few_ill_formed_sentences_only_warn(caplog) -> None:
    """Annotation noise (CoNLL-2003 train has 2 of 14,041) is scored, a wrong scheme is not."""
    noise = [_t("O B-MISC I-MISC")] + [_t("I-PER O")] * 199  # IOB1: B after O
    with caplog.at_level("WARNING", logger="seqtagger.data.schemes"):
        _check(noise, "iob1")
    assert "1 of 200 sentences have an ill-formed iob1 tag order" in caplog.text
    assert "first at f:0" in caplog.text
    iob1_read_as_bioes = [_t("I-PER I-PER O"), _t("O O")] * 3
    with pytest.raises(
        SchemeError, match=r"3 of 6 sentences do not fit scheme bioes \(first at f:0"
    ):
        _check(iob1_read_as_bioes, "bioes")


def test_check_split_tags_memo_is_bounded_and_still_checks(monkeypatch) -> None:
    """The memo of tag sequences is cleared when full (a POS corpus' sentences are mostly
    unique, so it would hold them all); a bad tag after a clear is still found."""
    from seqtagger.data import schemes

    monkeypatch.setattr(schemes, "SEEN_TAG_SEQUENCES", 3)
    unique = [[f"T{i}"] * (1 + i % 4) for i in range(20)]
    _check(unique, "plain")
    with pytest.raises(SchemeError, match=r"f:20: position 0"):
        _check([*unique, ["NO UN"]], "plain")
