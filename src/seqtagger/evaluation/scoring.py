"""Scoring one held-out set with a ``Predictor``: token accuracy, span P/R/F1, confusion.

The gold file is read in its own scheme, the model predicts in its training scheme, and
everything is scored from tag strings with the project's conlleval scorer (so the written
``predictions.conll`` re-scores to the same numbers with conlleval.pl). Gold tags the model has
never seen are reported and count as errors; the set is still scored. Every gold token of every
sentence is scored: the predictor never truncates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqtagger.data.schemes import (
    convert_tags,
    convertible_schemes,
    label_types,
    rewrite_tags,
    scheme_labels,
)
from seqtagger.evaluation.sets import HeldOutSet, check_scorable, read_set
from seqtagger.inference import Predictor
from seqtagger.metrics import report as reports
from seqtagger.metrics.conlleval import ChunkCounts, evaluate
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


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
    check_scorable(held_out, train_scheme)
    result = SetResult(held_out.name, held_out.scheme)
    result.tokens, result.gold, documents = read_set(held_out, convertible_schemes(train_scheme))
    raw = predictor.predict(result.tokens, documents)  # model labels, training scheme
    result.pred = [convert_tags(tags, train_scheme, held_out.scheme) for tags in raw]

    # the gold the model learnt from: well formed in the train scheme, as in training
    gold_in_train = [rewrite_tags(tags, held_out.scheme, train_scheme) for tags in result.gold]
    pairs = list(zip(result.gold, result.pred, strict=True))
    model_labels = model_labels_in(predictor, held_out.scheme)
    unknown = Counter(tag for tags in result.gold for tag in tags if tag not in model_labels)
    if unknown:
        log.warning(
            f"sets.{held_out.name}: gold tags unknown to the model: {dict(unknown)}, scored as "
            "errors (a training run with data.unknown_labels=map_to_o scored them as O, so its "
            "test numbers are higher)"
        )

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
