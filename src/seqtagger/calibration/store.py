"""Fitting a checkpoint's temperatures on a held-out set and storing them in the checkpoint.

The temperatures go to the checkpoint's data record, ``seqtagger["calibration"]``
(``data/info.py``'s ``CalibrationRecord``); a checkpoint without one reads as temperature 1 for
every task (``data.info.stored_temperatures``). A checkpoint file is rewritten through a
temporary file beside it, renamed into place with its mode kept; a link (``best.ckpt``) stays a
link and the file it names is rewritten.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqtagger.calibration.confidences import TaskCalibration, by_task, task_calibration
from seqtagger.calibration.passes import ScoredBatches, keep_logits, model_pass, scored_sentences
from seqtagger.calibration.sets import GoldSet, gold_ids, read_gold
from seqtagger.calibration.temperature import TemperatureFit, fit_temperature, padded_batches
from seqtagger.checkpoint import CHECKPOINT_KEY, load_checkpoint
from seqtagger.data.info import CalibrationRecord
from seqtagger.evaluation.sets import HeldOutSet
from seqtagger.utils.files import replace_file

CALIBRATION_KEY = "calibration"


@dataclass(frozen=True)
class CalibrationResult:
    """The fit of every task (``fits``), the record stored from it and each task's reliability
    on the set it was fitted on, before and after."""

    record: CalibrationRecord
    fits: dict[str, TemperatureFit]
    reliability: dict[str, TaskCalibration]

    def summary(self) -> str:
        """``upos: temperature 1.31 (dev NLL 0.2104 -> 0.1763, token ECE 0.0213 -> 0.0042)``
        per task, one line each."""
        lines = []
        for name, fit in self.fits.items():
            parts = [f"{self.record['set']} NLL {fit.nll_before:.4f} -> {fit.nll_after:.4f}"]
            for level, before in self.reliability[name].before.items():
                after = self.reliability[name].after[level]
                parts.append(f"{level} ECE {_shown(before.ece)} -> {_shown(after.ece)}")
            bound = "; at the end of the range searched" if fit.at_bound else ""
            left_out = f"; {fit.excluded} gold tokens with unseen tags left out" * bool(
                fit.excluded
            )
            lines.append(
                f"{name}: temperature {fit.temperature:.4g} ({', '.join(parts)}{left_out}{bound})"
            )
        return "\n".join(lines)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def fit_on_set(
    predictor: Any, tagger: Any, held_out: HeldOutSet, set_name: str
) -> CalibrationResult:
    """Fit every task's temperature on ``held_out`` (one model pass, logits kept on the host)
    and measure each task's reliability there before and after."""
    gold = read_gold(held_out, predictor)
    rows = list(model_pass(predictor, tagger, gold.tokens, gold.documents, keep_logits))
    fits, reliability = {}, {}
    for layer in gold.layers:
        fits[layer.task.name], reliability[layer.task.name] = _fit_task(layer, gold, rows, tagger)
    return CalibrationResult(calibration_record(fits, set_name), fits, reliability)


def _fit_task(
    layer: Any, gold: GoldSet, rows: list, tagger: Any
) -> tuple[TemperatureFit, TaskCalibration]:
    name, head = layer.task.name, tagger.heads[layer.task.name]
    ids, excluded = gold_ids(gold.gold[name], layer.labels)
    batches = padded_batches([row[name] for row in rows], ids)
    fit = fit_temperature(head, batches, name, excluded)
    tag_ids, scores = scored_sentences(head, batches, (1.0, fit.temperature))
    calibration = task_calibration(
        layer.task, layer.labels, gold.gold[name], tag_ids, scores, fit.temperature
    )
    return fit, calibration


def measure_set(
    predictor: Any, tagger: Any, held_out: HeldOutSet, temperatures: dict[str, float]
) -> dict[str, TaskCalibration]:
    """Each task's reliability on ``held_out`` at temperature 1 and at its ``temperatures``
    (one model pass; a few numbers kept per token)."""
    gold = read_gold(held_out, predictor)
    scored = ScoredBatches(tagger, {name: (1.0, t) for name, t in temperatures.items()})
    rows = list(model_pass(predictor, tagger, gold.tokens, gold.documents, scored))
    found = {}
    for layer in gold.layers:
        name = layer.task.name
        ids, scores = by_task(rows, name)
        found[name] = task_calibration(
            layer.task, layer.labels, gold.gold[name], ids, scores, temperatures[name]
        )
    return found


def calibration_record(fits: dict[str, TemperatureFit], set_name: str) -> CalibrationRecord:
    """What the checkpoint stores of the fits (``data/info.py``'s ``CalibrationRecord``)."""
    return {
        "temperature": {name: fit.temperature for name, fit in fits.items()},
        "set": set_name,
        "nll_before": {name: fit.nll_before for name, fit in fits.items()},
        "nll_after": {name: fit.nll_after for name, fit in fits.items()},
        "tokens": {name: fit.tokens for name, fit in fits.items()},
        "excluded": {name: fit.excluded for name, fit in fits.items()},
    }


def write_calibration(path: str | Path, record: CalibrationRecord, named_by: str = "CKPT") -> Path:
    """Store ``record`` in the checkpoint at ``path`` (written in this seqtagger's format,
    through a temporary file; a link's target is rewritten); returns the file written."""
    checkpoint = load_checkpoint(path, named_by=named_by)
    checkpoint[CHECKPOINT_KEY][CALIBRATION_KEY] = dict(record)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return replace_file(path, buffer.getbuffer())


def same_weights(first: str | Path, second: str | Path) -> bool:
    """Whether two checkpoint files hold the same model weights (the same state dict)."""
    states = [_state_dict(path) for path in (first, second)]
    if states[0].keys() != states[1].keys():
        return False
    return all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def _state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    try:  # mapped: weights are read as compared, not all at once
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # a file of torch's legacy format cannot be mapped
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint.get("state_dict") or {}


def calibrate_checkpoint(
    path: str | Path,
    held_out: HeldOutSet,
    *,
    set_name: str | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    vectors: str | None = None,
    named_by: str = "CKPT",
    also: Iterable[str | Path] = (),
) -> CalibrationResult:
    """Fit the temperatures of the checkpoint at ``path`` on ``held_out`` and store them in it
    (and in the checkpoints ``also`` names: the same model saved twice); the tags it gives do
    not change."""
    from seqtagger.inference import Predictor
    from seqtagger.models.trained import TrainedTagger

    model = TrainedTagger.from_checkpoint(path, vectors=vectors, named_by=named_by)
    predictor = Predictor(model, device=device, batch_size=batch_size)
    result = fit_on_set(predictor, model.tagger, held_out, set_name or held_out.name)
    for target in (path, *also):
        write_calibration(target, result.record, named_by)
    return result
