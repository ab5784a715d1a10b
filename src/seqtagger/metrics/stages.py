"""What each stage (train, val, test) measures: a token-weighted mean loss, token accuracy and,
for span schemes, span F1 (``SpanF1``); and which metric names a run can log, for checking a
monitored metric at start-up. States are sum-reduced, so the values are correct under DDP.

The mean loss is :class:`WeightedMean`, not torchmetrics' ``MeanMetric``: its NaN check tests
each value in Python (``if nans.any()``), a host read that makes every training step wait for
the GPU, and its ``nan_strategy="disable"``, which skips the check, also drops the weights
(torchmetrics 1.9). A NaN loss is the NaN guard's to catch (``training/faults.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from seqtagger.constants import IGNORE_INDEX
from seqtagger.metrics.span_f1 import SpanF1

__all__ = ["SPAN_METRICS", "STAGES", "StageMetrics", "WeightedMean", "logs_metric", "stage_scores"]

STAGES = ("train", "val", "test")
SPAN_METRICS = ("precision", "recall", "f1", "strict", "f1_best")


def stage_scores(labels: Sequence[str], train_scheme: str) -> MetricCollection:
    """One stage's scores, updated with ``(pred_ids, tag_ids)`` each ``(N, L)``; adding a metric
    is one entry here."""
    metrics: dict[str, Any] = {
        "acc": MulticlassAccuracy(
            num_classes=len(labels),
            average="micro",
            ignore_index=IGNORE_INDEX,
            validate_args=False,
        )
    }
    if train_scheme != "plain":  # precision, recall, f1, f1/<TYPE>, strict/...
        metrics["spans"] = SpanF1(labels, train_scheme, with_strict=True)
    return MetricCollection(metrics, compute_groups=False)


class WeightedMean(Metric):
    """``sum(value * weight) / sum(weight)`` over the updates, read nowhere but in
    ``compute``: ``update(value, weight)`` with 0-d tensors (a batch's mean loss, its tokens)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("weight", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, value: Tensor, weight: Tensor) -> None:
        self.total += value * weight
        self.weight += weight

    def compute(self) -> Tensor:
        return self.total / self.weight


class StageMetrics(nn.Module):
    """One stage's token-weighted mean loss and its scores (a ``MetricCollection``)."""

    def __init__(self, scores: MetricCollection) -> None:
        super().__init__()
        self.loss = WeightedMean()
        self.scores = scores

    def compute(self) -> dict[str, Tensor]:
        return {"loss": self.loss.compute(), **self.scores.compute()}

    def reset(self) -> None:
        self.loss.reset()
        self.scores.reset()


def logs_metric(name: str, train_scheme: str) -> bool:
    """Whether a ``TaggerModule`` can log ``name`` (``val/f1``) for data in ``train_scheme``:
    span metrics need a span scheme. Names outside our stages are not ours to judge (True)."""
    stage, _, metric = name.partition("/")
    if stage not in STAGES:
        return True
    return train_scheme != "plain" or metric.split("/")[0] not in SPAN_METRICS
