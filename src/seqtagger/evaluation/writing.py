"""What ``seqtagger-eval`` writes for a scored set: files, report text and TensorBoard records.

Per set, under ``<output_dir>/<set>/``: ``metrics.json``, ``report.txt`` (conlleval's layout,
strict IOB2 beside it, then a per-label classification report), ``confusion.csv`` (counts),
``confusion_normalized.csv`` (rows sum to 1), ``confusion.png``, ``per_type_f1.png`` (span
schemes), ``calibration.json`` and ``reliability.png`` (the confidences' ECE:
``evaluation.calibration``) and ``predictions.conll`` (``token gold predicted``; whitespace
inside a token is written as ``_``, see :func:`~seqtagger.metrics.conlleval.conll_token`).

A model of several tasks gets those files per task, under ``<output_dir>/<set>/<task>/``, and
``<set>/predictions.conll`` with a gold and a predicted column per task
(:func:`write_layer_predictions`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqtagger.calibration.bins import DEFAULT_BINS
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


def write_results(by_task: Mapping[str, SetResult], output_dir: Path) -> Path:
    """Write a set's files (one task: ``<set>/``; several: ``<set>/<task>/`` each, and
    ``<set>/predictions.conll`` with every task's columns); returns the set's folder."""
    folders = [write_set(result, output_dir) for result in by_task.values()]
    if len(by_task) == 1 and next(iter(by_task.values())).task is None:
        return folders[0]
    folder = output_dir / next(iter(by_task.values())).name
    write_layer_predictions(by_task, folder / "predictions.conll")
    return folder


def set_summary(by_task: Mapping[str, SetResult], headline: str) -> dict[str, Any]:
    """A set's entry in the output's ``metrics.json``: one task's metrics without the tables;
    for several tasks ``sentences``, ``tokens``, each task's values as training names them
    without the stage (``ner/f1``, ``pos/acc``) and the headline task's ``acc`` and ``f1``
    (when it was scored)."""
    results = list(by_task.values())
    if len(results) == 1 and results[0].task is None:
        return _scalars(results[0].metrics)
    summary = {key: results[0].metrics[key] for key in ("sentences", "tokens")}
    for task, result in by_task.items():
        values = _scalars(result.metrics)
        summary.update({f"{task}/{k}": v for k, v in values.items() if k not in summary})
    if headline in by_task:
        scores = by_task[headline].metrics
        summary.update({key: scores[key] for key in ("acc", "f1") if key in scores})
    return summary


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics without their tables (``unknown_tags`` kept)."""
    return {
        key: value
        for key, value in metrics.items()
        if not isinstance(value, dict) or key == "unknown_tags"
    }


def write_set(result: SetResult, output_dir: Path) -> Path:
    """Write the set's files under ``output_dir / result.label`` (``<set>`` or
    ``<set>/<task>``); returns that folder."""
    folder = output_dir / result.label
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
    task = "" if result.task is None else f" (task {result.task})"
    sentences = result.metrics["sentences"]
    parts = [f"# {result.name}{task}: {sentences} sentences, scheme {result.scheme}"]
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
    parts += calibration_lines(result.metrics)
    report = reports.format_classification_report(result.metrics["classification_report"])
    parts += ["", "## per label (token level)", report.rstrip(), ""]
    return "\n".join(parts)


def calibration_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The report's lines on the confidences' ECE (none when eval did not measure it)."""
    if "ece" not in metrics:
        return []
    lines = [
        "",
        f"## calibration (expected calibration error, {DEFAULT_BINS} equal-width bins)",
        f"token ECE: {_shown(metrics['ece'])} at temperature 1, "
        f"{_shown(metrics['ece/calibrated'])} at the stored {metrics['temperature']:.4g}",
    ]
    if "span/ece" in metrics:
        lines.append(
            f"span ECE: {_shown(metrics['span/ece'])} at temperature 1, "
            f"{_shown(metrics['span/ece/calibrated'])} at the stored {metrics['temperature']:.4g}"
        )
    return lines


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def confusion_figure(result: SetResult) -> Any:
    return plot_confusion(result.confusion, result.labels, title=f"{result.label}: confusion")


def per_type_figure(result: SetResult) -> Any:
    per_type = {name: values["f1"] for name, values in result.metrics["per_type"].items()}
    return plot_per_type_f1(per_type, title=f"{result.label}: F1 per type")


def write_predictions(result: SetResult, path: Path) -> None:
    """``token gold predicted`` lines, a blank line after each sentence (conlleval's input);
    whitespace inside a token becomes ``_`` so that every line keeps three columns."""
    with path.open("w", encoding="utf-8") as out:
        for tokens, gold, pred in zip(result.tokens, result.gold, result.pred, strict=True):
            for token, g, p in zip(tokens, gold, pred, strict=True):
                out.write(f"{conll_token(token)} {g} {p}\n")
            out.write("\n")


def write_layer_predictions(results: Mapping[str, SetResult], path: Path) -> None:
    """Every task's gold and predicted tags side by side (``token gold_<task> pred_<task> ...``,
    in task order), under a ``# columns = ...`` comment naming the columns; a blank line after
    each sentence."""
    names = list(results)
    first = results[names[0]]
    columns = [f"{kind}_{name}" for name in names for kind in ("gold", "pred")]
    with path.open("w", encoding="utf-8") as out:
        out.write(f"# columns = token {' '.join(columns)}\n")
        for index, tokens in enumerate(first.tokens):
            layers = [(results[name].gold[index], results[name].pred[index]) for name in names]
            for position, token in enumerate(tokens):
                tags = (tag for gold, pred in layers for tag in (gold[position], pred[position]))
                out.write(" ".join((conll_token(token), *tags)) + "\n")
            out.write("\n")


def log_results(
    by_task: Mapping[str, SetResult], summary: Mapping[str, Any], writer: Any, worst: int = 5
) -> None:
    """Each task's records (:func:`log_to_tensorboard`) and, for several tasks, the headline
    task's ``<set>/acc`` and ``<set>/f1`` of the set's ``summary``."""
    for result in by_task.values():
        log_to_tensorboard(result, writer, worst=worst)
    first = next(iter(by_task.values()))
    if first.task is not None:
        for key in ("acc", "f1"):
            if key in summary:
                writer.add_scalar(f"{first.name}/{key}", summary[key])


def log_to_tensorboard(result: SetResult, writer: Any, worst: int = 5) -> None:
    """Scalars, the confusion image, the per-type F1 chart and the worst sentences."""
    for name, value in result.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            writer.add_scalar(f"{result.label}/{name}", value)
    writer.add_image(
        f"{result.label}/confusion",
        figure_to_array(confusion_figure(result)),
        dataformats="HWC",
    )
    if result.counts is not None:
        chart = figure_to_array(per_type_figure(result))
        writer.add_image(f"{result.label}/per_type_f1", chart, dataformats="HWC")
    sentences = zip(result.tokens, result.gold, result.pred, strict=True)
    items = reports.worst_sentences(sentences, k=worst)
    if items:
        markdown = reports.format_sentences_markdown(items)
        writer.add_text(f"{result.label}/worst_sentences", markdown)


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
