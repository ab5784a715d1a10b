"""What ``seqtagger-eval`` reports of the confidences: ECE before and after the checkpoint's
stored temperature, per set and task, with the reliability data and diagram.

:class:`SetConfidences` stands in for the ``Predictor``'s tagging while a set is scored: it tags
through the same batches (``calibration.passes``), gives the scorer the same tags, and keeps each
token's probability at temperature 1 and at the task's stored one. Each task's result then gets
``ece`` and ``ece/calibrated`` (tokens) and, for span tasks, ``span/ece`` and
``span/ece/calibrated`` and its ``temperature`` in its metrics, and its folder
``calibration.json`` (the bins) and ``reliability.png``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqtagger.calibration.confidences import TaskCalibration, by_task, task_calibration
from seqtagger.calibration.passes import Scored, ScoredBatches, model_pass
from seqtagger.data.schemes import rewrite_tags
from seqtagger.evaluation.figures import plot_reliability
from seqtagger.evaluation.scoring import SetResult
from seqtagger.utils.files import replace_file

__all__ = ["SetConfidences", "add_calibration", "reliability_figure", "write_calibration"]


class SetConfidences:
    """A ``predict(tokens, documents) -> [{task: tags}]`` for ``score_layers`` (training schemes)
    that keeps the confidences of each task's tags at 1 and at its ``temperatures``."""

    def __init__(self, predictor: Any, tagger: Any, temperatures: Mapping[str, float]) -> None:
        self.predictor = predictor
        self.temperatures = {task.name: float(temperatures[task.name]) for task in predictor.tasks}
        self.batches = ScoredBatches(tagger, {n: (1.0, t) for n, t in self.temperatures.items()})
        self.rows: list[Scored] = []

    def __call__(self, tokens: list[list[str]], documents: list[int]) -> list[dict[str, list[str]]]:
        self.rows = list(
            model_pass(self.predictor, self.batches.tagger, tokens, documents, self.batches)
        )
        labels = self.predictor.task_labels
        return [
            {name: [labels[name][i] for i in ids] for name, (ids, _) in row.items()}
            for row in self.rows
        ]

    def calibration(self, name: str, result: SetResult) -> TaskCalibration:
        """Task ``name``'s reliability on the set ``result`` scored."""
        task = next(task for task in self.predictor.tasks if task.name == name)
        gold = [rewrite_tags(tags, result.scheme, task.train_scheme) for tags in result.gold]
        ids, scores = by_task(self.rows, name)
        labels = self.predictor.task_labels[name]
        return task_calibration(task, labels, gold, ids, scores, self.temperatures[name])


def add_calibration(
    by_task_results: Mapping[str, SetResult], confidences: SetConfidences
) -> dict[str, TaskCalibration]:
    """Each task's reliability on the set, its numbers added to the task's metrics."""
    found = {}
    for name, result in by_task_results.items():
        found[name] = confidences.calibration(name, result)
        result.metrics.update(found[name].metrics())
    return found


def write_calibration(
    by_task_results: Mapping[str, SetResult],
    calibrations: Mapping[str, TaskCalibration],
    output_dir: Path,
) -> None:
    """``calibration.json`` and ``reliability.png`` in each task's folder of the set."""
    for name, result in by_task_results.items():
        calibration = calibrations[name]
        folder = output_dir / result.label
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(calibration.to_dict(), indent=2) + "\n"
        replace_file(folder / "calibration.json", text.encode("utf-8"))
        figure = reliability_figure(calibration, f"{result.label}: reliability")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        replace_file(folder / "reliability.png", buffer.getbuffer())


def reliability_figure(calibration: TaskCalibration, title: str) -> Any:
    """Panels per level (tokens, spans): at temperature 1 and at the task's temperature."""
    temperature = f"{calibration.temperature:.3g}"
    panels = {}
    for level in calibration.before:
        panels[f"{level}s, temperature 1"] = calibration.before[level]
        panels[f"{level}s, temperature {temperature}"] = calibration.after[level]
    return plot_reliability(panels, columns=2, title=title)
