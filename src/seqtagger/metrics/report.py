"""Report computations for evaluation on held-out sets (the figures are in
``seqtagger.evaluation.figures``).

Token-level classification report, confusion matrix counts, and the sentences with the most
errors as markdown (for TensorBoard ``add_text``).

Why hand-written: scikit-learn's ``classification_report``/``confusion_matrix`` would add a
heavy dependency for a few lines of numpy, and need the whole evaluation set as flat arrays; here
counts are accumulated in bounded chunks.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "classification_report",
    "confusion_matrix",
    "format_classification_report",
    "format_sentences_markdown",
    "label_order",
    "most_confused",
    "normalize_rows",
    "worst_sentences",
]

AVERAGES = ("micro avg", "macro avg", "weighted avg")
_MAX_ANNOTATED_LABELS = 30
_FLUSH_EVERY = 1 << 20  # tokens buffered before a bincount, bounds memory on huge sets


def label_order(model_labels: Sequence[str], gold_labels: Iterable[str]) -> list[str]:
    """Model labels first (in their order), then gold labels unknown to the model, sorted.

    Unknown gold labels get their own row so they show up in the matrix as errors instead of
    being dropped.
    """
    order = list(dict.fromkeys(model_labels))
    known = set(order)
    return order + sorted(set(gold_labels) - known)


def confusion_matrix(
    pairs: Iterable[tuple[Sequence[str], Sequence[str]]], labels: Sequence[str]
) -> np.ndarray:
    """Count token tags: ``pairs`` holds ``(gold_tags, pred_tags)`` per sentence.

    Returns ``(K, K)`` int64 counts with K = len(labels), rows = gold, cols = predicted.
    Raises ``ValueError`` naming the tags not in ``labels``, or the first sentence whose gold
    and predicted lengths differ.
    """
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError(f"confusion_matrix: duplicate labels in {list(labels)}")
    k = len(labels)
    counts = np.zeros(k * k, dtype=np.int64)
    flat: list[int] = []
    unknown: set[str] = set()
    for n, (gold, pred) in enumerate(pairs):
        if len(gold) != len(pred):
            raise ValueError(
                f"confusion_matrix: sentence {n} has {len(gold)} gold tags but "
                f"{len(pred)} predicted tags"
            )
        for g, p in zip(gold, pred, strict=True):
            gi, pi = index.get(g), index.get(p)
            if gi is None or pi is None:
                unknown.update(t for t in (g, p) if t not in index)
                continue
            flat.append(gi * k + pi)
        if len(flat) >= _FLUSH_EVERY:
            counts += np.bincount(flat, minlength=k * k)
            flat.clear()
    if unknown:
        raise ValueError(
            f"confusion_matrix: tags not in labels: {sorted(unknown)} "
            "(build labels with label_order(model_labels, gold_tags))"
        )
    if flat:
        counts += np.bincount(flat, minlength=k * k)
    return counts.reshape(k, k)


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Row-normalised float64 copy of ``matrix`` (K, K); rows with zero support stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def classification_report(matrix: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Token-level precision, recall, f1 and support per label, plus averages.

    ``matrix`` (K, K): rows = gold, cols = predicted. Undefined ratios (no prediction / no gold
    token) are 0. "micro avg" pools all tokens (P = R = F1 = token accuracy). "macro avg" and
    "weighted avg" (by support) are over labels that occur in gold or predictions, so a model
    label absent from this held-out set does not drag the macro average down. ``support`` is an
    int (token count).
    """
    matrix = np.asarray(matrix)
    k = len(labels)
    if matrix.shape != (k, k):
        raise ValueError(f"classification_report: matrix shape {matrix.shape} != ({k}, {k})")
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)

    report: dict[str, dict[str, float]] = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    total = int(support.sum())
    accuracy = float(tp.sum() / total) if total else 0.0
    report["micro avg"] = {
        "precision": accuracy,
        "recall": accuracy,
        "f1": accuracy,
        "support": total,
    }
    present = (support + predicted) > 0
    weights = support[present].astype(np.float64)
    for name, weighted in (("macro avg", False), ("weighted avg", True)):
        values = {}
        for metric, array in (("precision", precision), ("recall", recall), ("f1", f1)):
            selected = array[present]
            if not selected.size or (weighted and total == 0):
                values[metric] = 0.0
            elif weighted:
                values[metric] = float(np.average(selected, weights=weights))
            else:
                values[metric] = float(selected.mean())
        report[name] = {**values, "support": total}
    return report


def format_classification_report(report: Mapping[str, Mapping[str, float]], digits: int = 4) -> str:
    """sklearn-like aligned text table of a :func:`classification_report` dict."""
    headers = ("precision", "recall", "f1-score", "support")
    width = max([len(name) for name in report] + [len("weighted avg"), digits])
    col = max(len(h) for h in headers) + 1  # one space between columns at least
    lines = [" " * width + "".join(h.rjust(col) for h in headers), ""]

    def row(name: str, values: Mapping[str, float]) -> str:
        numbers = "".join(f"{values[m]:{col}.{digits}f}" for m in ("precision", "recall", "f1"))
        return f"{name:>{width}}{numbers}{int(values['support']):{col}d}"

    lines += [row(name, values) for name, values in report.items() if name not in AVERAGES]
    averages = [name for name in AVERAGES if name in report]
    if averages:
        lines.append("")
        lines += [row(name, report[name]) for name in averages]
    return "\n".join(lines) + "\n"


def most_confused(matrix: np.ndarray, labels: Sequence[str], k: int = 10) -> list[dict[str, Any]]:
    """The ``k`` most frequent errors of a confusion matrix (K, K), rows = gold, cols = predicted.

    Each item: ``{"gold", "pred", "count", "share"}``, ``share`` = the fraction of that gold
    label's tokens predicted as ``pred``. Most frequent first; ties in label order. The diagonal
    (correct tags) and zero cells are never listed.
    """
    matrix = np.asarray(matrix)
    size = len(labels)
    if matrix.shape != (size, size):
        raise ValueError(f"most_confused: matrix shape {matrix.shape} != ({size}, {size})")
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    support = matrix.sum(axis=1)
    cells = [(-int(errors[g, p]), g, p) for g, p in zip(*np.nonzero(errors), strict=True)]
    return [
        {
            "gold": labels[g],
            "pred": labels[p],
            "count": -negative,
            "share": -negative / int(support[g]),
        }
        for negative, g, p in sorted(cells)[: max(k, 0)]
    ]


def worst_sentences(
    sentences: Iterable[tuple[Sequence[str], Sequence[str], Sequence[str]]], k: int = 5
) -> list[dict[str, Any]]:
    """The ``k`` sentences with most token errors, from ``(tokens, gold, pred)`` triples.

    Ties: shorter sentence first, then input order. Sentences without errors are never listed.
    Each item: ``{"errors", "index" (input position), "tokens", "gold", "pred"}`` (lists).
    Streams: only ``k`` sentences are held at a time.
    """

    def scored() -> Iterable[tuple[int, int, int, tuple[Sequence[str], ...]]]:
        for n, (tokens, gold, pred) in enumerate(sentences):
            if not len(tokens) == len(gold) == len(pred):
                raise ValueError(
                    f"worst_sentences: sentence {n} has {len(tokens)} tokens, {len(gold)} gold "
                    f"and {len(pred)} predicted tags"
                )
            errors = sum(g != p for g, p in zip(gold, pred, strict=True))
            if errors:
                yield (-errors, len(tokens), n, (tokens, gold, pred))

    best = heapq.nsmallest(k, scored(), key=lambda item: item[:3]) if k > 0 else []
    return [
        {"errors": -neg, "index": n, "tokens": list(t), "gold": list(g), "pred": list(p)}
        for neg, _, n, (t, g, p) in best
    ]


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|*_`[]<>#"})


def _md(text: str) -> str:
    return text.translate(_MD_SPECIAL)


def format_sentences_markdown(items: list[dict[str, Any]]) -> str:
    """Markdown, one ``token | gold | pred`` table per sentence; wrong predictions in bold + ✗.

    For TensorBoard ``add_text`` (which renders markdown). Cell text is escaped.
    """
    if not items:
        return "_No sentences with errors._\n"
    blocks = []
    for number, item in enumerate(items, start=1):
        where = f" (input #{item['index']})" if "index" in item else ""
        lines = [
            f"**Sentence {number}{where}: {item['errors']} error(s)**",
            "",
            "| token | gold | pred |",
            "|---|---|---|",
        ]
        for token, gold, pred in zip(item["tokens"], item["gold"], item["pred"], strict=True):
            shown = _md(pred) if gold == pred else f"**{_md(pred)}** ✗"
            lines.append(f"| {_md(token)} | {_md(gold)} | {shown} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
