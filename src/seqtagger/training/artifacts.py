"""What a training run leaves besides checkpoints: the vocabularies as JSON, the final metrics as
floats, the best checkpoint to test, and the hyperparameters beside the final metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lightning import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from seqtagger.data.tasks import DEFAULT_TASK
from seqtagger.utils.config import flatten
from seqtagger.utils.pylogger import RankedLogger
from seqtagger.utils.targets import to_plain

log = RankedLogger(__name__, rank_zero_only=True)


def save_vocabs(datamodule: LightningDataModule, folder: Path) -> None:
    """Words, characters and each task's labels as plain JSON beside the checkpoints (the
    checkpoints carry the same data; these are for people and other tools): ``labels.json`` for
    the one task of a config without ``data.tasks``, ``labels_<task>.json`` per named task."""
    for name, vocab in (getattr(datamodule, "vocabs", None) or {}).items():
        vocab.save(folder / f"{name}.json")
    for task, labels in (getattr(datamodule, "task_labels", None) or {}).items():
        labels.save(folder / ("labels.json" if task == DEFAULT_TASK else f"labels_{task}.json"))


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Callback metrics (tensors) as plain floats for JSON and hparams."""
    return {name: float(value) for name, value in metrics.items() if _is_scalar(value)}


def _is_scalar(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def saved_best(trainer: Trainer) -> str | None:
    """The path of the fit's best checkpoint, None when none was saved."""
    checkpoint = trainer.checkpoint_callback
    return (checkpoint.best_model_path if checkpoint is not None else "") or None


def best_checkpoint(trainer: Trainer) -> str | None:
    """The fit's best checkpoint; None (the trained weights as they are) when none was saved."""
    best = saved_best(trainer)
    if not best:
        log.warning("No best checkpoint was saved: testing the weights as trained")
    return best or None


# config groups whose choices name a run's recipe: experiment, data, model, model/encoder, ...
RECIPE_GROUPS = ("experiment", "data", "model")
# keys that say where files are or how the run executes, not what it trains: left out of the
# hyperparameters, which are for comparing runs (a key's children go with it)
PLUMBING = (
    *("data/data_dir", "data/cache_dir", "data/files", "data/reader", "data/seed"),
    *("data/eval_batch_size", "data/num_workers", "data/persistent_workers", "data/pin_memory"),
    *("data/prepare_data_per_node", "model/probability_check", "model/train_scores_every"),
    "model/embedding/length_groups",
)
# the trainer's settings that change what is trained (the rest are devices, logging, checks)
TRAINER_HPARAMS = (
    *("max_epochs", "min_epochs", "max_steps", "max_time", "limit_train_batches"),
    *("precision", "gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches"),
    *("devices", "num_nodes"),  # with data.batch_size, the global batch
)


def run_hparams(cfg: DictConfig, choices: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters runs are compared by, flat (``model/encoder/hidden_size``): the
    recipe's config-group ``choices`` (``model/encoder: bilstm``; Hydra's), every ``data/`` and
    ``model/`` setting but the ``_target_``-style keys and :data:`PLUMBING`, the trainer's
    :data:`TRAINER_HPARAMS`, ``seed`` and ``tags``."""
    params = {
        group: "null" if choice is None else str(choice)
        for group, choice in choices.items()
        if group.split("/")[0] in RECIPE_GROUPS
    }
    settings = flatten({key: to_plain(cfg[key]) for key in ("data", "model") if key in cfg})
    params |= {
        name: value
        for name, value in settings.items()
        if not any(part.startswith("_") for part in name.split("/"))
        and not any(name == key or name.startswith(f"{key}/") for key in PLUMBING)
    }
    trainer = cfg.get("trainer") or {}
    params |= flatten(
        {"trainer": {key: to_plain(trainer[key]) for key in TRAINER_HPARAMS if key in trainer}}
    )
    params["seed"] = cfg.get("seed")
    params["tags"] = ",".join(map(str, cfg.get("tags") or []))  # experiment labels, for filtering
    return params


def recipe_choices() -> dict[str, Any]:
    """The config-group choices of the running Hydra job (``{}`` outside one)."""
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def report_single_tag(model: LightningModule) -> None:
    """Warn at the end of the run (console and ``train.log``) when the final model predicted
    one tag on (almost) every token of dev or test (``TaggerModule.predicted_tags``): its numbers
    alone do not say so."""
    predicted = getattr(model, "predicted_tags", None)
    for note in predicted.notes.values() if predicted is not None else ():
        if note:
            log.warning(note)


def log_hparams(cfg: DictConfig, loggers: list, metrics: dict[str, float]) -> None:
    """Record the run's hyperparameters (:func:`run_hparams`) beside its final metrics
    (TensorBoard's HPARAMS tab)."""
    params = run_hparams(cfg, recipe_choices())
    final = {
        f"hp/{name}": value for name, value in metrics.items() if name.startswith(("test/", "val/"))
    }
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):  # the only one that takes final metrics
            logger.log_hyperparams(params, metrics=final or None)
        else:
            logger.log_hyperparams(params)
        logger.save()
