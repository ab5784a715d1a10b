"""What a training run leaves besides checkpoints: the vocabularies as JSON, the final metrics as
floats, the best checkpoint to test, and the hyperparameters beside the final metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lightning import LightningDataModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from seqtagger.utils.config import flatten, to_plain
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


def save_vocabs(datamodule: LightningDataModule, folder: Path) -> None:
    """Words, characters and labels as plain JSON beside the checkpoints (the checkpoints carry
    the same data; these are for people and other tools)."""
    for name, vocab in (getattr(datamodule, "vocabs", None) or {}).items():
        vocab.save(folder / f"{name}.json")


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Callback metrics (tensors) as plain floats for JSON and hparams."""
    return {name: float(value) for name, value in metrics.items() if _is_scalar(value)}


def _is_scalar(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def best_checkpoint(trainer: Trainer) -> str | None:
    """The fit's best checkpoint; None (the trained weights as they are) when none was saved."""
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None else ""
    if not best:
        log.warning("No best checkpoint was saved: testing the weights as trained")
    return best or None


def log_hparams(cfg: DictConfig, loggers: list, metrics: dict[str, float]) -> None:
    """Record the run's hyperparameters beside its final metrics (TensorBoard's HPARAMS tab)."""
    params = flatten(
        {key: to_plain(cfg[key]) for key in ("data", "model", "trainer") if key in cfg}
    )
    params["seed"] = cfg.get("seed")
    params["tags"] = ",".join(map(str, cfg.get("tags") or []))  # experiment labels, for filtering
    final = {
        f"hp/{name}": value for name, value in metrics.items() if name.startswith(("test/", "val/"))
    }
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):  # the only one that takes final metrics
            logger.log_hyperparams(params, metrics=final or None)
        else:
            logger.log_hyperparams(params)
        logger.save()
