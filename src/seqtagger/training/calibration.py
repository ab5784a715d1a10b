"""The end of a training run: fit the best checkpoint's temperatures on the dev set
(``calibrate: true``, the default) and store them in it, and in every other checkpoint file of
the run that holds the same weights (``last.ckpt`` when the last epoch was the best).

Runs on the main process only, after the test stage: the tags never depend on the temperature,
so the test numbers are those of the calibrated checkpoint too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

LAST_NAME = "last.ckpt"

BATCH_SIZE = 64  # sentences per batch of the dev pass, as seqtagger-eval's default


def calibrate_after_training(cfg: DictConfig, trainer: Any, datamodule: Any) -> Any:
    """Calibrate the fit's best checkpoint on the dev split (see the module docstring); returns
    the ``CalibrationResult``, or None when there is nothing to calibrate."""
    from seqtagger.calibration.sets import datamodule_split
    from seqtagger.calibration.store import calibrate_checkpoint, same_weights

    if not cfg.get("calibrate", True) or not cfg.get("train"):
        return None
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback is not None else ""
    if not best or "://" in str(best) or not Path(best).is_file():
        return None
    if not datamodule.has_split("validation"):
        log.warning("calibrate=true but the data has no validation split: temperatures stay 1")
        return None
    held_out = datamodule_split(datamodule, "validation", "dev")
    twins = [path for path in other_checkpoints(trainer, best) if same_weights(best, path)]
    try:
        result = calibrate_checkpoint(
            best,
            held_out,
            device=trainer.strategy.root_device,
            batch_size=BATCH_SIZE,
            named_by="ckpt_path",
            also=twins,
        )
    except NotImplementedError:  # a head of the user's own without marginals
        log.warning("a head has no marginals(): the checkpoint's temperatures stay 1")
        return None
    written = ", ".join(Path(path).name for path in [best, *twins])
    log.info(f"Calibrated {written} on dev:\n{result.summary()}")
    return result


def other_checkpoints(trainer: Any, best: str) -> list[str]:
    """The run's other checkpoint files that may hold the best weights, once each: each
    checkpoint callback's best and last, and ``last.ckpt`` beside the best (after the test
    stage the callback that writes it may no longer name it)."""
    found: dict[str, str] = {}
    paths = [str(Path(best).parent / LAST_NAME)]
    for callback in trainer.checkpoint_callbacks:
        paths += [callback.best_model_path, callback.last_model_path]
    for path in paths:
        if path and "://" not in str(path) and Path(path).is_file():
            found.setdefault(os.path.realpath(path), str(path))
    found.pop(os.path.realpath(best), None)
    return list(found.values())
