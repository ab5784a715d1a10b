"""A set's confidences and their calibration, per task: tokens, and spans for span tasks.

- Token: the confidence is the probability of the returned tag (the head's decoded one, in the
  training scheme); it is correct when that tag equals the gold tag (the gold rewritten in the
  training scheme, as eval's token accuracy reads it). A gold tag training never saw is an error
  here as in eval's scores.
- Span (tasks with spans): the confidence of each returned span is its score
  (``seqtagger.inference.scores.span_score``: the least probability of its tokens' tags); it is
  correct when the gold has a span of the same type and boundaries (conlleval's chunks of the
  tags in the training scheme).

Each is measured at temperature 1 (``before``) and at the task's stored or fitted temperature
(``after``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqtagger.calibration.bins import DEFAULT_BINS, Reliability, reliability
from seqtagger.data.schemes import get_spans
from seqtagger.data.tasks import Task
from seqtagger.inference.scores import span_score

LEVELS = ("token", "span")


@dataclass(frozen=True)
class TaskCalibration:
    """One task's reliability on a set, by level (``token``; ``span`` for span tasks), at
    temperature 1 (``before``) and at ``temperature`` (``after``)."""

    task: str
    temperature: float
    before: dict[str, Reliability]
    after: dict[str, Reliability]

    def metrics(self) -> dict[str, float | None]:
        """The numbers eval adds to a set's metrics: ``ece``, ``ece/calibrated``,
        ``span/ece``, ``span/ece/calibrated`` and ``temperature``."""
        values: dict[str, float | None] = {"temperature": self.temperature}
        for level in self.before:
            prefix = "" if level == "token" else f"{level}/"
            values[f"{prefix}ece"] = self.before[level].ece
            values[f"{prefix}ece/calibrated"] = self.after[level].ece
        return values

    def to_dict(self) -> dict[str, Any]:
        """The reliability data, as written to ``calibration.json``."""
        return {
            "task": self.task,
            "temperature": self.temperature,
            "bins": len(next(iter(self.before.values())).bins),
            **{
                level: {
                    "before": self.before[level].to_dict(),
                    "after": self.after[level].to_dict(),
                }
                for level in self.before
            },
        }


def task_calibration(
    task: Task,
    labels: Sequence[str],
    gold: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]],
    scores: tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]],
    temperature: float,
    bins: int = DEFAULT_BINS,
) -> TaskCalibration:
    """A task's :class:`TaskCalibration` from each sentence's ``gold`` tags (training scheme),
    decoded ``tag_ids`` and their probabilities at 1 and at ``temperature`` (``scores``)."""
    predicted = [[labels[i] for i in ids] for ids in tag_ids]
    correct = [
        p == g
        for tags, golds in zip(predicted, gold, strict=True)
        for p, g in zip(tags, golds, strict=True)
    ]
    before: dict[str, Reliability] = {}
    after: dict[str, Reliability] = {}
    for side, sentence_scores in zip((before, after), scores, strict=True):
        flat = [score for row in sentence_scores for score in row]
        side["token"] = reliability(flat, correct, bins)
        if task.has_spans:
            confidences, hits = span_confidences(
                predicted, gold, sentence_scores, task.train_scheme
            )
            side["span"] = reliability(confidences, hits, bins)
    return TaskCalibration(task.name, temperature, before, after)


def span_confidences(
    predicted: Sequence[Sequence[str]],
    gold: Sequence[Sequence[str]],
    scores: Sequence[Sequence[float]],
    scheme: str,
) -> tuple[list[float], list[bool]]:
    """Every returned span's score and whether the gold has it (type and boundaries)."""
    confidences: list[float] = []
    hits: list[bool] = []
    for tags, golds, row in zip(predicted, gold, scores, strict=True):
        wanted = set(get_spans(golds, scheme))
        for span in get_spans(tags, scheme):
            confidences.append(span_score(row, span.start, span.end))
            hits.append(span in wanted)
    return confidences, hits


def by_task(
    rows: Sequence[Mapping[str, tuple[list[int], list[list[float]]]]], task: str
) -> tuple[list[list[int]], tuple[list[list[float]], list[list[float]]]]:
    """A task's decoded ids and their probabilities before and after, from the rows of
    ``ScoredBatches`` (temperatures 1 and the task's, in that order)."""
    ids = [row[task][0] for row in rows]
    before = [row[task][1][0] for row in rows]
    after = [row[task][1][-1] for row in rows]
    return ids, (before, after)
