"""Human-readable reports for evaluation on held-out sets.

Token-level classification report, confusion matrix (CSV and PNG), per-type F1 bar chart, and
the sentences with the most errors as markdown (for TensorBoard ``add_text``).

Why hand-written: scikit-learn's ``classification_report``/``confusion_matrix`` would add a
heavy dependency for a few lines of numpy, and need the whole evaluation set as flat arrays; here
counts are accumulated in bounded chunks. Plots use :class:`matplotlib.figure.Figure` with an
explicit Agg canvas, never ``pyplot``, so nothing touches global backend state (safe in
DataLoader workers, DDP ranks and headless jobs).
"""

from __future__ import annotations

import csv
import heapq
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "classification_report",
    "confusion_matrix",
    "figure_to_array",
    "figure_to_png",
    "format_classification_report",
    "format_sentences_markdown",
    "label_order",
    "normalize_rows",
    "plot_confusion",
    "plot_per_type_f1",
    "worst_sentences",
    "write_confusion_csv",
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


def write_confusion_csv(
    matrix: np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike[str],
    normalized: bool = False,
) -> None:
    """Write the matrix as CSV: header ``gold\\pred,<labels>``, then one row per gold label.

    Counts are integers; with ``normalized`` rows are row-normalised fractions (6 decimals).
    Parent directories are created.
    """
    matrix = np.asarray(matrix)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = normalize_rows(matrix) if normalized else matrix.astype(np.int64)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["gold\\pred", *labels])
        for label, row in zip(labels, values, strict=True):
            cells = [f"{v:.6f}" for v in row] if normalized else [str(int(v)) for v in row]
            writer.writerow([label, *cells])


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # explicit Agg canvas: no pyplot, no global backend
    return fig


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix heat map: colour = row-normalised (recall per gold label), text = counts.

    Counts are written in the cells (zeros left blank) only up to 30 labels; the figure grows
    with the label count so tick labels stay readable.
    """
    matrix = np.asarray(matrix)
    k = len(labels)
    if matrix.shape != (k, k):
        raise ValueError(f"plot_confusion: matrix shape {matrix.shape} != ({k}, {k})")
    normed = normalize_rows(matrix)
    size = min(max(4.0, 0.45 * k + 2.5), 24.0)
    fig = _new_figure(size + 1.0, size)  # +1 inch for the colour bar
    ax = fig.add_subplot()
    image = ax.imshow(normed, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="fraction of gold row")
    cell_pt = 72.0 * (size - 2.0) / max(k, 1)  # height of one cell in points
    tick_size = max(5.0, min(10.0, 0.6 * cell_pt))
    ax.set_xticks(range(k), labels=list(labels), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels=list(labels))
    ax.tick_params(labelsize=tick_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if title:
        ax.set_title(title)
    if 0 < k <= _MAX_ANNOTATED_LABELS:
        text_size = max(5.0, min(9.0, 0.4 * cell_pt))
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                color = "white" if normed[i, j] > 0.5 else "black"
                ax.text(
                    j, i, str(int(count)), ha="center", va="center", color=color, fontsize=text_size
                )
    return fig


def plot_per_type_f1(per_type_f1: Mapping[str, float], title: str = "") -> Figure:
    """Horizontal bar chart of F1 per entity type, in mapping order top to bottom, annotated.

    Values may be fractions (0..1) or percentages (0..100, e.g. from conlleval); the axis and
    the labels follow whichever scale the values use.
    """
    names = list(per_type_f1)
    values = [float(per_type_f1[name]) for name in names]
    percent = any(v > 1.0 for v in values)
    scale = 100.0 if percent else 1.0
    fig = _new_figure(6.5, max(2.0, 0.35 * len(names) + 1.2))
    ax = fig.add_subplot()
    positions = range(len(names))
    bars = ax.barh(positions, values, color="tab:blue")
    ax.set_yticks(positions, labels=names)
    ax.invert_yaxis()
    ax.set_xlim(0.0, scale * 1.12)  # headroom for the value labels
    ax.set_xlabel("F1 (%)" if percent else "F1")
    ax.bar_label(bars, labels=[f"{v:.1f}" if percent else f"{v:.3f}" for v in values], padding=3)
    if not names:
        ax.text(0.5, 0.5, "no types", ha="center", va="center", transform=ax.transAxes)
    if title:
        ax.set_title(title)
    return fig


def figure_to_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Save ``fig`` as PNG at ``path`` (parent directories created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` to a uint8 RGB array (H, W, 3), for ``add_image(dataformats="HWC")``."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


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
