"""Tests for the pure-Python conlleval port: report text, file reading, CLI, SpanF1 agreement."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import torch

from seqtagger.metrics.conlleval import (
    ChunkCounts,
    evaluate,
    format_report,
    main,
    read_columns,
)
from seqtagger.metrics.span_f1 import SpanF1

# Hand-made file.  Chunks (gold | pred):
#   s1: ORG(0,1) MISC(2,3)  | ORG(0,1) PER(2,3)      tokens 5, tags right 4
#   s2: PER(0,2)            | PER(0,2)               tokens 2, tags right 2
#   s3: LOC(0,1) ORG(3,5)   | LOC(0,1)* ORG(2,5)     tokens 5, tags right 2 (1996, Commission)
#   (* I-LOC after O: a chunk in lenient mode, dropped in strict mode)
HAND_FILE = """\
-DOCSTART- -X- O O

EU NNP B-ORG B-ORG
rejects VBZ O O
German JJ B-MISC B-PER
call NN O O
. . O O

Peter NNP B-PER B-PER
Blackburn NNP I-PER I-PER


BRUSSELS NNP B-LOC I-LOC
1996-08-22 CD O O
the DT O B-ORG
European NNP B-ORG I-ORG
Commission NNP I-ORG I-ORG
"""

# lenient: 12 tokens, 8 right; 5 gold, 5 found, 3 correct (ORG, PER, LOC)
#   LOC 1/1 found 1; MISC 0/1 found 0; ORG 1/2 found 2; PER 1/1, 1 of 2 found
HAND_REPORT = """\
processed 12 tokens with 5 phrases; found: 5 phrases; correct: 3.
accuracy:  66.67%; precision:  60.00%; recall:  60.00%; FB1:  60.00
              LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1
             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0
              ORG: precision:  50.00%; recall:  50.00%; FB1:  50.00  2
              PER: precision:  50.00%; recall: 100.00%; FB1:  66.67  2
"""

# strict: the I-LOC chunk is dropped: 4 found, 2 correct; P 50, R 40, F 2*50*40/90 = 44.44
HAND_REPORT_STRICT = """\
processed 12 tokens with 5 phrases; found: 4 phrases; correct: 2.
accuracy:  66.67%; precision:  50.00%; recall:  40.00%; FB1:  44.44
              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0
             MISC: precision:   0.00%; recall:   0.00%; FB1:   0.00  0
              ORG: precision:  50.00%; recall:  50.00%; FB1:  50.00  2
              PER: precision:  50.00%; recall: 100.00%; FB1:  66.67  2
"""


@pytest.fixture
def hand_file(tmp_path: Path) -> Path:
    path = tmp_path / "hand.txt"
    path.write_text(HAND_FILE, encoding="utf-8")
    return path


def test_read_columns(hand_file: Path) -> None:
    sentences = list(read_columns(hand_file))
    assert [tokens for tokens, _, _ in sentences] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["BRUSSELS", "1996-08-22", "the", "European", "Commission"],
    ]
    assert sentences[1][1:] == (["B-PER", "I-PER"], ["B-PER", "I-PER"])
    assert sentences[2][2][0] == "I-LOC"


def test_report_matches_hand_computed_numbers(hand_file: Path) -> None:
    pairs = [(gold, pred) for _, gold, pred in read_columns(hand_file)]
    assert format_report(evaluate(pairs)) == HAND_REPORT
    assert format_report(evaluate(pairs, strict=True)) == HAND_REPORT_STRICT


def test_main_prints_report(hand_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(hand_file)]) == 0
    assert capsys.readouterr().out == HAND_REPORT
    assert main([str(hand_file), "--scheme", "IOB2", "--strict"]) == 0
    assert capsys.readouterr().out == HAND_REPORT_STRICT


def test_main_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(HAND_FILE))
    assert main([]) == 0
    assert capsys.readouterr().out == HAND_REPORT


def test_main_names_file_and_line_of_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("a B-X B-X\n\nb O O\nc E-X O\n", encoding="utf-8")
    assert main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:" in err and "gold tags: position 1: tag 'E-X'" in err
    assert main([str(bad), "--scheme", "bioes"]) == 0
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("a B-X B-X\nb O\n", encoding="utf-8")
    assert main([str(ragged)]) == 1
    assert f"{ragged}:2: 2 columns, expected 3" in capsys.readouterr().err


def test_read_columns_errors(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text("a O O\n\nb O\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}:3: 2 columns, expected 3"):
        list(read_columns(path))
    path.write_text("lonely\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}:1: need at least 2 columns"):
        list(read_columns(path))


def test_boundary_lines_and_two_columns(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    # boundary lines need not have the data's column count
    path.write_text("B-X B-X\n-X- O O\nI-X I-X\n\n-DOCSTART- -X- -X- O\n\nO O\n", encoding="utf-8")
    assert list(read_columns(path)) == [
        ([""], ["B-X"], ["B-X"]),
        ([""], ["I-X"], ["I-X"]),
        ([""], ["O"], ["O"]),
    ]


def test_empty_input_report() -> None:
    assert format_report(evaluate([])) == (
        "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
    )


def test_bioes_and_plain_accuracy() -> None:
    # BIOES tags are compared after the token-wise IOB2 mapping: E-X == I-X, S-X == B-X
    counts = evaluate([(["B-X", "E-X", "S-Y"], ["B-X", "I-X", "B-Y"])], "bioes")
    assert (counts.tokens, counts.correct_tokens) == (3, 3)
    assert counts.correct == {"X": 1, "Y": 1}
    plain = evaluate([(["NN", "VB"], ["NN", "NN"])], "plain")
    assert (plain.tokens, plain.correct_tokens, plain.gold, plain.accuracy) == (2, 1, {}, 0.5)
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        evaluate([(["O", "O"], ["O"])])


def test_chunk_counts_scores() -> None:
    counts = ChunkCounts(10, 9, {"A": 1}, {"A": 2, "B": 1}, {"A": 1})
    assert counts.types == ["A", "B"]
    assert counts.precision() == pytest.approx(1 / 3)
    assert counts.recall("A") == 1.0
    assert counts.f1("B") == 0.0
    assert counts.f1("missing") == 0.0
    assert counts.accuracy == 0.9


def conlleval_pl_counts(pairs: list[tuple[list[str], list[str]]]) -> ChunkCounts:
    """Independent oracle: conlleval.pl's streaming state machine (IOB tags), transcribed."""

    def split(tag: str) -> tuple[str, str]:
        prefix, _, type_ = tag.partition("-")
        return prefix, type_

    def end_of_chunk(prev: str, tag: str, prev_type: str, type_: str) -> bool:
        return (prev in "BI" and tag in "BO") or (prev != "O" and prev_type != type_)

    def start_of_chunk(prev: str, tag: str, prev_type: str, type_: str) -> bool:
        return tag == "B" or (prev == "O" and tag == "I") or (tag != "O" and prev_type != type_)

    counts = ChunkCounts(0, 0, {}, {}, {})
    last_g = last_p = ("O", "")
    in_correct = False
    lines = [pair for g, p in pairs for pair in [*zip(g, p, strict=True), None]]
    for line in lines:
        g, p = (("O", ""), ("O", "")) if line is None else (split(line[0]), split(line[1]))
        g_end, p_end = (
            end_of_chunk(*last_g[:1], g[0], last_g[1], g[1]),
            end_of_chunk(last_p[0], p[0], last_p[1], p[1]),
        )
        if in_correct:
            if g_end and p_end and last_g[1] == last_p[1]:
                in_correct = False
                counts.correct[last_g[1]] = counts.correct.get(last_g[1], 0) + 1
            elif g_end != p_end or g[1] != p[1]:
                in_correct = False
        g_start = start_of_chunk(last_g[0], g[0], last_g[1], g[1])
        p_start = start_of_chunk(last_p[0], p[0], last_p[1], p[1])
        if g_start and p_start and g[1] == p[1]:
            in_correct = True
        if g_start:
            counts.gold[g[1]] = counts.gold.get(g[1], 0) + 1
        if p_start:
            counts.pred[p[1]] = counts.pred.get(p[1], 0) + 1
        if line is not None:
            counts.tokens += 1
            counts.correct_tokens += line[0] == line[1]
        last_g, last_p = g, p
    if in_correct:
        counts.correct[last_g[1]] = counts.correct.get(last_g[1], 0) + 1
    return counts


@pytest.mark.parametrize("scheme", ["iob1", "iob2"])
def test_evaluate_equals_conlleval_state_machine(scheme: str) -> None:
    rng = random.Random(scheme)
    tags = ["O", "B-A", "I-A", "B-B", "I-B", "B-C-D", "I-C-D"]
    for _ in range(100):
        pairs = []
        for _ in range(rng.randint(0, 5)):
            n = rng.randint(1, 8)
            pairs.append(
                ([rng.choice(tags) for _ in range(n)], [rng.choice(tags) for _ in range(n)])
            )
        ours = evaluate(pairs, scheme)
        assert ours == conlleval_pl_counts(pairs)
        assert format_report(ours) == format_report(conlleval_pl_counts(pairs))


def test_span_f1_agrees_on_hand_file(hand_file: Path) -> None:
    sentences = list(read_columns(hand_file))
    labels = sorted({t for _, gold, pred in sentences for t in gold + pred})
    index = {label: i for i, label in enumerate(labels)}
    length = max(len(gold) for _, gold, _ in sentences)

    def encode(column: int) -> torch.Tensor:
        rows = [[index[t] for t in s[column]] for s in sentences]
        return torch.tensor([row + [-100] * (length - len(row)) for row in rows])

    for strict in (False, True):
        metric = SpanF1(labels, "iob2", strict=strict)
        metric.update(encode(2), encode(1))
        pairs = [(gold, pred) for _, gold, pred in sentences]
        assert metric.chunk_counts() == evaluate(pairs, strict=strict)
        assert format_report(metric.chunk_counts()) == (
            HAND_REPORT_STRICT if strict else HAND_REPORT
        )
