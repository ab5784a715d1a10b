"""Tests for seqtagger.metrics.report and the evaluation figures and CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from seqtagger.evaluation.figures import (
    figure_to_array,
    figure_to_png,
    plot_confusion,
    plot_per_type_f1,
)
from seqtagger.evaluation.writing import write_confusion_csv
from seqtagger.metrics.report import (
    classification_report,
    confusion_matrix,
    format_classification_report,
    format_sentences_markdown,
    label_order,
    most_confused,
    normalize_rows,
    worst_sentences,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC"]
PAIRS = [
    (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"]),
    (["O", "O", "B-LOC"], ["O", "B-PER", "B-LOC"]),
]


@pytest.fixture
def matrix() -> np.ndarray:
    return confusion_matrix(PAIRS, LABELS)


def test_label_order_appends_unknown_gold_sorted() -> None:
    order = label_order(["O", "B-PER", "I-PER", "O"], ["B-ZZZ", "O", "B-AAA", "B-ZZZ"])
    assert order == ["O", "B-PER", "I-PER", "B-AAA", "B-ZZZ"]


def test_confusion_matrix_counts(matrix: np.ndarray) -> None:
    expected = np.array(
        [
            [2, 1, 0, 0],  # gold O: 2 right, 1 predicted B-PER
            [0, 1, 0, 0],
            [1, 0, 0, 0],  # gold I-PER predicted O
            [0, 0, 0, 2],
        ]
    )
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, expected)


def test_confusion_matrix_empty_and_errors() -> None:
    np.testing.assert_array_equal(confusion_matrix([], LABELS), np.zeros((4, 4), np.int64))
    with pytest.raises(ValueError, match=r"tags not in labels: \['B-MISC', 'X'\]"):
        confusion_matrix([(["B-MISC", "O"], ["O", "X"])], LABELS)
    with pytest.raises(ValueError, match="sentence 1 has 2 gold tags but 1 predicted"):
        confusion_matrix([(["O"], ["O"]), (["O", "O"], ["O"])], LABELS)


def test_normalize_rows_zero_support_stays_zero() -> None:
    normed = normalize_rows(np.array([[1, 3], [0, 0]]))
    np.testing.assert_allclose(normed, [[0.25, 0.75], [0.0, 0.0]])


def test_classification_report_values(matrix: np.ndarray) -> None:
    report = classification_report(matrix, LABELS)
    assert report["O"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert report["B-PER"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    )
    assert report["I-PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["micro avg"] == pytest.approx(
        {"precision": 5 / 7, "recall": 5 / 7, "f1": 5 / 7, "support": 7}
    )
    f1s = [2 / 3, 2 / 3, 0.0, 1.0]
    assert report["macro avg"]["f1"] == pytest.approx(np.mean(f1s))
    assert report["weighted avg"]["f1"] == pytest.approx(np.average(f1s, weights=[3, 1, 1, 2]))


def test_classification_report_macro_skips_absent_labels(matrix: np.ndarray) -> None:
    labels = [*LABELS, "B-ORG"]
    padded = np.zeros((5, 5), np.int64)
    padded[:4, :4] = matrix
    with_absent = classification_report(padded, labels)
    assert with_absent["B-ORG"]["support"] == 0
    assert with_absent["macro avg"] == classification_report(matrix, LABELS)["macro avg"]


def test_classification_report_shape_check() -> None:
    with pytest.raises(ValueError, match="shape"):
        classification_report(np.zeros((2, 2)), LABELS)


def test_format_classification_report_aligned(matrix: np.ndarray) -> None:
    text = format_classification_report(classification_report(matrix, LABELS), digits=2)
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    rows = [line for line in lines if line.strip()]
    assert len({len(line) for line in rows}) == 1  # every row has the same width
    assert rows[1].split() == ["O", "0.67", "0.67", "0.67", "3"]
    assert rows[-1].split() == ["weighted", "avg", "0.64", "0.71", "0.67", "7"]
    assert lines[len(LABELS) + 2] == ""  # blank line before the averages


def test_write_confusion_csv(tmp_path: Path, matrix: np.ndarray) -> None:
    path = tmp_path / "sub" / "cm.csv"
    write_confusion_csv(matrix, LABELS, path)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["gold\\pred", *LABELS]
    assert rows[1] == ["O", "2", "1", "0", "0"]
    assert len(rows) == len(LABELS) + 1

    write_confusion_csv(matrix, LABELS, path, normalized=True)
    rows = list(csv.reader(path.open()))
    assert [float(v) for v in rows[1][1:]] == pytest.approx([2 / 3, 1 / 3, 0, 0], abs=1e-6)


def test_plot_confusion_renders(tmp_path: Path, matrix: np.ndarray) -> None:
    fig = plot_confusion(matrix, LABELS, title="dev")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == LABELS
    assert ax.get_title() == "dev"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "1", "2", "2"]  # zeros blank
    image = figure_to_array(fig)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3
    figure_to_png(fig, tmp_path / "png" / "cm.png")
    assert (tmp_path / "png" / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_confusion_many_labels_no_text_and_bigger() -> None:
    k = 31
    rng = np.random.default_rng(0)
    labels = [f"TAG-{i}" for i in range(k)]
    fig = plot_confusion(rng.integers(0, 5, (k, k)), labels)
    assert len(fig.axes[0].texts) == 0
    small = plot_confusion(np.eye(3, dtype=int), ["a", "b", "c"])
    assert fig.get_size_inches()[0] > small.get_size_inches()[0]


def test_plot_per_type_f1(tmp_path: Path) -> None:
    fig = plot_per_type_f1({"PER": 0.9, "LOC": 0.5, "ORG": 0.0}, title="F1")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["PER", "LOC", "ORG"]
    assert [t.get_text() for t in ax.texts] == ["0.900", "0.500", "0.000"]
    percent = plot_per_type_f1({"PER": 91.25})
    assert [t.get_text() for t in percent.axes[0].texts] == ["91.2"]
    assert percent.axes[0].get_xlim()[1] > 100
    figure_to_png(plot_per_type_f1({}), tmp_path / "empty.png")


def test_most_confused_lists_errors_most_frequent_first() -> None:
    matrix = np.array([[5, 2, 0], [3, 4, 3], [0, 1, 9]])
    pairs = most_confused(matrix, ["O", "PER", "LOC"], k=3)
    assert [(p["gold"], p["pred"], p["count"]) for p in pairs] == [
        ("PER", "O", 3),  # ties in label order
        ("PER", "LOC", 3),
        ("O", "PER", 2),
    ]
    assert pairs[0]["share"] == pytest.approx(0.3)
    assert len(most_confused(matrix, ["O", "PER", "LOC"], k=10)) == 4  # zeros never listed
    assert most_confused(np.eye(3, dtype=int), ["O", "PER", "LOC"]) == []
    with pytest.raises(ValueError):
        most_confused(matrix, ["O", "PER"])


def test_worst_sentences_ranking_and_ties() -> None:
    data = [
        (["a", "b", "c"], ["O", "O", "O"], ["O", "X", "O"]),  # 1 error, len 3
        (["d"], ["O"], ["O"]),  # no error: never listed
        (["e", "f"], ["O", "O"], ["X", "O"]),  # 1 error, len 2
        (["g", "h", "i"], ["O", "O", "O"], ["X", "X", "O"]),  # 2 errors
        (["j", "k"], ["O", "O"], ["O", "X"]),  # 1 error, len 2, later input
    ]
    worst = worst_sentences(iter(data), k=3)
    assert [(w["errors"], w["index"]) for w in worst] == [(2, 3), (1, 2), (1, 4)]
    assert worst[0] == {
        "errors": 2,
        "index": 3,
        "tokens": ["g", "h", "i"],
        "gold": ["O", "O", "O"],
        "pred": ["X", "X", "O"],
    }
    assert len(worst_sentences(data, k=10)) == 4
    assert worst_sentences(data, k=0) == []
    with pytest.raises(ValueError, match="sentence 0 has 1 tokens, 1 gold and 2 predicted"):
        worst_sentences([(["a"], ["O"], ["O", "O"])])


def test_format_sentences_markdown() -> None:
    items = worst_sentences([(["New", "a|b"], ["B-LOC", "O"], ["B-LOC", "B-PER"])])
    text = format_sentences_markdown(items)
    assert "| token | gold | pred |" in text
    assert "| New | B-LOC | B-LOC |" in text
    assert "| a\\|b | O | **B-PER** ✗ |" in text
    assert "1 error(s)" in text
    assert "No sentences" in format_sentences_markdown([])
