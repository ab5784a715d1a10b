"""What ``seqtagger-eval`` writes for a scored set: files, report text and TensorBoard records.

Per set, under ``<output_dir>/<set>/``: ``metrics.json``, ``report.txt`` (conlleval's layout,
strict IOB2 beside it, then a per-label classification report), ``confusion.csv`` (counts),
``confusion_normalized.csv`` (rows sum to 1), ``confusion.png``, ``per_type_f1.png`` (span
schemes) and ``predictions.conll`` (``token gold predicted``; whitespace inside a token is
written as ``_``, see :func:`~seqtagger.metrics.conlleval.conll_token`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqtagger.evaluation.figures import (
    figure_to_array,
    figure_to_png,
    plot_confusion,
    plot_per_type_f1,
)
from seqtagger.evaluation.scoring import SetResult
from seqtagger.metrics import report as reports
from seqtagger.metrics.conlleval import conll_token, format_report
from seqtagger.utils.config import write_json


def write_set(result: SetResult, output_dir: Path) -> Path:
    """Write the set's files under ``output_dir / result.name``; returns that folder."""
    folder = output_dir / result.name
    folder.mkdir(parents=True, exist_ok=True)
    write_json(result.metrics, folder / "metrics.json")
    (folder / "report.txt").write_text(format_set_report(result), encoding="utf-8")
    write_confusion_csv(result.confusion, result.labels, folder / "confusion.csv")
    write_confusion_csv(
        reports.normalize_rows(result.confusion),
        result.labels,
        folder / "confusion_normalized.csv",
        normalized=True,
    )
    figure_to_png(confusion_figure(result), folder / "confusion.png")
    if result.counts is not None:
        figure_to_png(per_type_figure(result), folder / "per_type_f1.png")
    write_predictions(result, folder / "predictions.conll")
    return folder


def format_set_report(result: SetResult) -> str:
    """conlleval's report (lenient, then strict IOB2), then the per-label report."""
    parts = [f"# {result.name}: {result.metrics['sentences']} sentences, scheme {result.scheme}"]
    parts.append(f"token accuracy (model labels): {100 * result.metrics['acc']:.2f}%")
    if result.counts is not None:
        parts += ["", "## conlleval", format_report(result.counts).rstrip()]
        parts += [
            "",
            "## strict IOB2 on the model's own tags (ill-formed chunks dropped)",
            format_report(result.strict_counts).rstrip(),
        ]
    if result.metrics["unknown_tags"]:
        parts += [
            "",
            f"gold tags unknown to the model (scored as errors): {result.metrics['unknown_tags']}",
        ]
    report = reports.format_classification_report(result.metrics["classification_report"])
    parts += ["", "## per label (token level)", report.rstrip(), ""]
    return "\n".join(parts)


def confusion_figure(result: SetResult) -> Any:
    return plot_confusion(result.confusion, result.labels, title=f"{result.name}: confusion")


def per_type_figure(result: SetResult) -> Any:
    per_type = {name: values["f1"] for name, values in result.metrics["per_type"].items()}
    return plot_per_type_f1(per_type, title=f"{result.name}: F1 per type")


def write_predictions(result: SetResult, path: Path) -> None:
    """``token gold predicted`` lines, a blank line after each sentence (conlleval's input);
    whitespace inside a token becomes ``_`` so that every line keeps three columns."""
    with path.open("w", encoding="utf-8") as out:
        for tokens, gold, pred in zip(result.tokens, result.gold, result.pred, strict=True):
            for token, g, p in zip(tokens, gold, pred, strict=True):
                out.write(f"{conll_token(token)} {g} {p}\n")
            out.write("\n")


def log_to_tensorboard(result: SetResult, writer: Any, worst: int = 5) -> None:
    """Scalars, the confusion image, the per-type F1 chart and the worst sentences."""
    for name, value in result.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            writer.add_scalar(f"{result.name}/{name}", value)
    writer.add_image(
        f"{result.name}/confusion",
        figure_to_array(confusion_figure(result)),
        dataformats="HWC",
    )
    if result.counts is not None:
        chart = figure_to_array(per_type_figure(result))
        writer.add_image(f"{result.name}/per_type_f1", chart, dataformats="HWC")
    sentences = zip(result.tokens, result.gold, result.pred, strict=True)
    items = reports.worst_sentences(sentences, k=worst)
    if items:
        writer.add_text(f"{result.name}/worst_sentences", reports.format_sentences_markdown(items))


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
    values = reports.normalize_rows(matrix) if normalized else matrix.astype(np.int64)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["gold\\pred", *labels])
        for label, row in zip(labels, values, strict=True):
            cells = [f"{v:.6f}" for v in row] if normalized else [str(int(v)) for v in row]
            writer.writerow([label, *cells])
