"""Scoring one held-out set with a ``Predictor``: metrics, reports, files, TensorBoard.

For each set the gold file is read in its own scheme (its tags are checked against that scheme,
errors name the file, line and set), the model predicts in its training scheme,
and everything is scored from tag strings with the project's conlleval scorer (so the written
``predictions.conll`` re-scores to the same numbers with conlleval.pl). Gold tags the model has
never seen are reported and count as errors; the set is still scored. Every gold token of every
sentence is scored: the predictor never truncates.

Per set, under ``<output_dir>/<set>/``: ``metrics.json``, ``report.txt`` (conlleval's layout,
strict IOB2 beside it, then a per-label classification report), ``confusion.csv`` (counts),
``confusion_normalized.csv`` (rows sum to 1), ``confusion.png``, ``per_type_f1.png`` (span
schemes) and ``predictions.conll`` (``token gold predicted``; whitespace inside a token is
written as ``_``, see :func:`~seqtagger.metrics.conlleval.conll_token`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqtagger.data.readers import Reader, reader_for_path
from seqtagger.data.schemes import (
    check_scheme,
    check_split_tags,
    convert_tags,
    label_types,
    scheme_labels,
)
from seqtagger.errors import CorpusFormatError, CorpusNotFoundError, SchemeError
from seqtagger.inference import Predictor
from seqtagger.metrics import report as reports
from seqtagger.metrics.conlleval import ChunkCounts, conll_token, evaluate, format_report
from seqtagger.utils.config import write_json
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


@dataclass
class HeldOutSet:
    """A named held-out set: where it is, how to read it, its tag scheme."""

    name: str
    source: Path | str
    reader: Reader
    scheme: str


@dataclass
class SetResult:
    """Everything computed for one set (tags in the set's scheme)."""

    name: str
    scheme: str
    tokens: list[list[str]] = field(default_factory=list)
    gold: list[list[str]] = field(default_factory=list)
    pred: list[list[str]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    confusion: np.ndarray | None = None
    counts: ChunkCounts | None = None
    strict_counts: ChunkCounts | None = None


def read_set(held_out: HeldOutSet) -> tuple[list[list[str]], list[list[str]]]:
    """Tokens and gold tags of every sentence of the set (clear error when it has none, or when
    the tags do not fit the set's scheme)."""
    tokens: list[list[str]] = []
    gold: list[list[str]] = []
    where: list[str] = []
    sentences = held_out.reader.iter_sentences(held_out.source, require_tags=True, located=True)
    for sentence in sentences:
        tokens.append(list(sentence["tokens"]))
        gold.append(list(sentence["tags"]))
        where.append(sentence["where"])
    if not tokens:
        raise CorpusFormatError(f"sets.{held_out.name}: no sentences in {held_out.source}")
    name = f"sets.{held_out.name}"
    check_split_tags(
        gold, held_out.scheme, name=name, key=f"{name}.scheme", locate=where.__getitem__
    )
    return tokens, gold


def model_labels_in(predictor: Predictor, scheme: str) -> list[str]:
    """The model's label set expressed in ``scheme`` (for the confusion matrix rows)."""
    if scheme == "plain":
        return list(predictor.labels)
    return scheme_labels(label_types(predictor.labels), scheme)


def score_set(predictor: Predictor, held_out: HeldOutSet) -> SetResult:
    """Predict the set and compute token accuracy, span P/R/F1 (conlleval and strict IOB2),
    the confusion matrix and the per-label report."""
    train_scheme = predictor.train_scheme
    if predictor.scheme != train_scheme:
        raise ValueError("score_set needs a Predictor that outputs the training scheme")
    result = SetResult(held_out.name, held_out.scheme)
    result.tokens, result.gold = read_set(held_out)
    raw = predictor.predict(result.tokens)  # model labels, training scheme
    result.pred = [_convert(tags, train_scheme, held_out.scheme) for tags in raw]

    gold_in_train = [_convert(tags, held_out.scheme, train_scheme) for tags in result.gold]
    pairs = list(zip(result.gold, result.pred, strict=True))
    model_labels = model_labels_in(predictor, held_out.scheme)
    unknown = Counter(tag for tags in result.gold for tag in tags if tag not in model_labels)
    if unknown:
        log.warning(f"sets.{held_out.name}: gold tags unknown to the model: {dict(unknown)}")

    result.labels = reports.label_order(model_labels, (tag for tags in result.gold for tag in tags))
    result.confusion = reports.confusion_matrix(pairs, result.labels)
    result.metrics = {
        "sentences": len(result.tokens),
        "tokens": sum(map(len, result.tokens)),
        "acc": _token_accuracy(gold_in_train, raw),
        "unknown_tags": dict(unknown),
        "classification_report": reports.classification_report(result.confusion, result.labels),
    }
    if held_out.scheme != "plain":
        result.counts = evaluate(pairs, scheme=held_out.scheme)
        # strict mode judges the model's own output: converting it to the set's scheme first
        # would repair exactly the ill-formed chunks that strict mode is there to drop
        raw_pairs = zip(gold_in_train, raw, strict=True)
        result.strict_counts = evaluate(raw_pairs, scheme=train_scheme, strict=True)
        result.metrics.update(_span_metrics(result.counts, result.strict_counts))
    return result


def _convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    return list(tags) if source == target else convert_tags(tags, source, target)


def _token_accuracy(gold: list[list[str]], pred: list[list[str]]) -> float:
    """Token accuracy over the model's own labels (the training run's ``test/acc``)."""
    correct = sum(
        g == p for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)
    )
    total = sum(map(len, gold))
    return correct / total if total else 0.0


def _span_metrics(counts: ChunkCounts, strict: ChunkCounts) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "precision": counts.precision(),
        "recall": counts.recall(),
        "f1": counts.f1(),
        "conlleval_accuracy": counts.accuracy,
        "strict/precision": strict.precision(),
        "strict/recall": strict.recall(),
        "strict/f1": strict.f1(),
        "per_type": {},
    }
    for type_ in sorted(set(counts.gold) | set(counts.pred)):
        metrics["per_type"][type_] = {
            "precision": counts.precision(type_),
            "recall": counts.recall(type_),
            "f1": counts.f1(type_),
            "support": counts.gold.get(type_, 0),
            "predicted": counts.pred.get(type_, 0),
        }
    return metrics


# ----- writing -----
def write_set(result: SetResult, output_dir: Path) -> Path:
    """Write the set's files under ``output_dir / result.name``; returns that folder."""
    folder = output_dir / result.name
    folder.mkdir(parents=True, exist_ok=True)
    write_json(result.metrics, folder / "metrics.json")
    (folder / "report.txt").write_text(format_set_report(result), encoding="utf-8")
    reports.write_confusion_csv(result.confusion, result.labels, folder / "confusion.csv")
    reports.write_confusion_csv(
        reports.normalize_rows(result.confusion),
        result.labels,
        folder / "confusion_normalized.csv",
        normalized=True,
    )
    reports.figure_to_png(confusion_figure(result), folder / "confusion.png")
    if result.counts is not None:
        reports.figure_to_png(per_type_figure(result), folder / "per_type_f1.png")
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
    return reports.plot_confusion(
        result.confusion, result.labels, title=f"{result.name}: confusion"
    )


def per_type_figure(result: SetResult) -> Any:
    per_type = {name: values["f1"] for name, values in result.metrics["per_type"].items()}
    return reports.plot_per_type_f1(per_type, title=f"{result.name}: F1 per type")


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
        reports.figure_to_array(confusion_figure(result)),
        dataformats="HWC",
    )
    if result.counts is not None:
        chart = reports.figure_to_array(per_type_figure(result))
        writer.add_image(f"{result.name}/per_type_f1", chart, dataformats="HWC")
    sentences = zip(result.tokens, result.gold, result.pred, strict=True)
    items = reports.worst_sentences(sentences, k=worst)
    if items:
        writer.add_text(f"{result.name}/worst_sentences", reports.format_sentences_markdown(items))


def held_out_from_file(
    name: str, path: str | Path, scheme: str, reader: Reader | None = None
) -> HeldOutSet:
    """A set read from ``path`` with ``reader`` (default: chosen by file suffix)."""
    path = Path(path)
    if not path.exists():
        raise CorpusNotFoundError(f"sets.{name}: {path} does not exist")
    try:
        scheme = check_scheme(scheme)
    except SchemeError as err:
        raise SchemeError(f"sets.{name}.scheme: {err}") from None
    return HeldOutSet(name, path, reader or reader_for_path(path), scheme)
