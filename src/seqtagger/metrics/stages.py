"""What each stage (train, val, test) measures, per task: a token-weighted mean loss, token
accuracy and, for span schemes, span F1 (``SpanF1``); and which metric names a run can log, for
checking a monitored metric at start-up. States are sum-reduced, so the values are correct
under DDP. ``seqtagger-eval`` scores held-out sets with the same :func:`task_scores`, so a metric
added here is seen in training, TensorBoard and eval reports alike.

Names: one task logs ``loss``, ``acc``, ``f1``, ``f1/<TYPE>``, …; several log them per task
(``upos/acc``, ``ner/f1/PER``), the summed weighted ``loss``, and the headline task's ``acc``
and ``f1`` under their plain names (what checkpoints, early stopping and schedulers monitor).

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
from seqtagger.data.tasks import Task, headline_task
from seqtagger.metrics.span_f1 import SpanF1

__all__ = [
    "SPAN_METRICS",
    "STAGES",
    "StageMetrics",
    "TaskMetrics",
    "WeightedMean",
    "logs_metric",
    "stage_metrics",
    "task_scores",
]

STAGES = ("train", "val", "test")
SPAN_METRICS = ("precision", "recall", "f1", "strict", "f1_best")


def task_scores(labels: Sequence[str], train_scheme: str, unseen: bool = False) -> MetricCollection:
    """One task's scores, updated with ``(pred_ids, tag_ids)`` each ``(N, L)``; adding a metric
    is one entry here. ``unseen``: gold ids may be ``len(labels)``, a tag training never showed
    (``unknown_labels=score_as_error``), which no prediction equals: an error."""
    metrics: dict[str, Any] = {
        "acc": MulticlassAccuracy(
            num_classes=len(labels) + bool(unseen),
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


class TaskMetrics(nn.Module):
    """One task's token-weighted mean loss and its scores (a ``MetricCollection``)."""

    def __init__(self, scores: MetricCollection) -> None:
        super().__init__()
        self.loss = WeightedMean()
        self.scores = scores

    def compute(self) -> dict[str, Tensor]:
        values = {"loss": self.loss.compute(), **self.scores.compute()}
        values.pop("accuracy", None)  # SpanF1's conlleval accuracy: `acc` is the token accuracy
        return values

    def reset(self) -> None:
        self.loss.reset()
        self.scores.reset()


def stage_metrics(tasks: Sequence[Task], labels: dict[str, list[str]], stage: str) -> StageMetrics:
    """Each task's metrics for ``stage``; gold tags training never showed count as errors on
    dev and test under ``score_as_error``."""
    scores = {
        task.name: task_scores(
            labels[task.name],
            task.train_scheme,
            unseen=stage != "train" and task.unknown_labels == "score_as_error",
        )
        for task in tasks
    }
    return StageMetrics(scores, headline_task(tasks).name)


class StageMetrics(nn.Module):
    """One stage's metrics: each task's (:class:`TaskMetrics`) and, with several tasks, the
    summed loss; ``compute`` names them (see the module docstring). ``loss`` and ``scores``
    are the headline task's (the epoch line reads them)."""

    def __init__(self, tasks: dict[str, MetricCollection], headline: str) -> None:
        super().__init__()
        self.tasks = nn.ModuleDict({name: TaskMetrics(scores) for name, scores in tasks.items()})
        self.headline = headline
        self.several = len(tasks) > 1
        self.total = WeightedMean() if self.several else None

    @property
    def loss(self) -> WeightedMean:
        return self.total if self.total is not None else self.tasks[self.headline].loss

    @property
    def scores(self) -> MetricCollection:
        return self.tasks[self.headline].scores

    def update(
        self,
        losses: dict[str, Tensor],
        total: Tensor,
        tokens: Tensor,
        predicted: dict[str, Tensor] | None,
        gold: dict[str, Tensor],
    ) -> None:
        """A batch's losses (per task and summed), its tokens, and the predicted and gold tag
        ids ``(N, L)`` per task (``predicted`` None: the losses only)."""
        for name, metrics in self.tasks.items():
            metrics.loss.update(losses[name].detach(), weight=tokens)
            if predicted is not None:
                metrics.scores.update(predicted[name], gold[name])
        if self.total is not None:
            self.total.update(total.detach(), weight=tokens)

    def compute(self) -> dict[str, Tensor]:
        if not self.several:
            return self.tasks[self.headline].compute()
        values: dict[str, Tensor] = {"loss": self.total.compute()}
        for name, metrics in self.tasks.items():
            computed = metrics.compute()
            values.update({f"{name}/{key}": value for key, value in computed.items()})
            if name == self.headline:
                values.update({key: computed[key] for key in ("acc", "f1") if key in computed})
        return values

    def reset(self) -> None:
        for metrics in self.tasks.values():
            metrics.reset()
        if self.total is not None:
            self.total.reset()


def logs_metric(name: str, train_scheme: str) -> bool:
    """Whether a ``TaggerModule`` can log ``name`` (``val/f1``) for data in ``train_scheme``:
    span metrics need a span scheme. Names outside our stages are not ours to judge (True)."""
    stage, _, metric = name.partition("/")
    if stage not in STAGES:
        return True
    return train_scheme != "plain" or metric.split("/")[0] not in SPAN_METRICS
