"""``seqtagger-train``: fit a tagger, then test its best checkpoint.

Thin on purpose: everything is built from the config (``configs/train.yaml``) by ``_target_``.
Examples::

    seqtagger-train                                   # UD English-EWT UPOS, BiLSTM
    seqtagger-train data=conll2003 model=bilstm trainer.max_epochs=30
    seqtagger-train experiment=ewt_transformer trainer=gpu
    seqtagger-train run_name=ewt ckpt_path=auto       # resume that run in its own folder
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from seqtagger.checkpoint import load_checkpoint
from seqtagger.errors import CheckpointError, ConfigError
from seqtagger.lightning_module import logs_metric
from seqtagger.utils.cli import user_errors
from seqtagger.utils.config import (
    apply_extras,
    flatten,
    instantiate_callbacks,
    instantiate_loggers,
    save_resolved_config,
    to_plain,
    write_json,
)
from seqtagger.utils.pylogger import RankedLogger, remove_file_handlers
from seqtagger.utils.slurm import discard_partial_epoch_checkpoints, register_resolvers

log = RankedLogger(__name__, rank_zero_only=True)
register_resolvers()  # before Hydra resolves the run folder's name

# configs/ at the repository root; the package's `configs` links to it in a checkout and is a
# copy inside a wheel, so installed commands find the same configs
CONFIG_DIR = os.environ.get("SEQTAGGER_CONFIG_DIR") or str(Path(__file__).parent / "configs")


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str | Path) -> str | None:
    """``auto`` -> the run folder's ``checkpoints/last.ckpt`` when it exists, else a fresh start.

    The file is loaded once here (safely) so that a text file or a truncated checkpoint is
    reported as a ``CheckpointError`` naming it, not as an error deep inside Lightning."""
    if ckpt_path == "auto":
        discard_partial_epoch_checkpoints(output_dir)  # a requeued SLURM job's, if any
        last = Path(output_dir) / "checkpoints" / "last.ckpt"
        if not last.is_file():
            log.info(f"ckpt_path=auto: no {last} yet, starting a new run")
            return None
        log.info(f"Resuming from <{last}>")
        ckpt_path = str(last)
    if ckpt_path is not None:
        if not Path(ckpt_path).is_file():
            raise CheckpointError(f"ckpt_path={ckpt_path}: no such checkpoint file")
        checkpoint = load_checkpoint(ckpt_path)
        log.info(
            f"Checkpoint <{ckpt_path}>: saved in epoch {int(checkpoint.get('epoch', -1)) + 1}, "
            f"global step {checkpoint.get('global_step')}"
        )
    return ckpt_path


def check_run_length(trainer: Trainer) -> None:
    """Refuse a fit that trains nothing: its test would score untrained weights (issue 7.1)."""
    for key in ("max_epochs", "max_steps"):
        if getattr(trainer, key) == 0:
            raise ConfigError(
                f"trainer.{key}=0 trains nothing, and the test would score untrained weights: "
                f"set trainer.{key} >= 1, or test a trained model with train=false "
                "ckpt_path=PATH"
            )


def check_monitors(cfg: DictConfig, datamodule: LightningDataModule, trainer: Trainer) -> None:
    """Refuse, at start-up, a callback or LR scheduler that monitors a metric the run never
    logs; Lightning would only notice after a whole epoch (issue 7.10)."""
    headline = f"val/{getattr(datamodule, 'headline', 'acc')}"
    monitors = {
        f"callbacks.{name}.monitor": conf.get("monitor")
        for name, conf in (cfg.get("callbacks") or {}).items()
        if conf is not None and conf.get("monitor")
    }
    scheduler = (cfg.get("model") or {}).get("scheduler") or {}
    if str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau"):
        monitors["model.scheduler (ReduceLROnPlateau)"] = headline
    scheme = getattr(datamodule, "train_scheme", "plain")
    for key, monitor in monitors.items():
        if not str(monitor).startswith("val/"):
            continue
        if trainer.limit_val_batches == 0:
            raise ConfigError(
                f"{key}={monitor}: trainer.limit_val_batches=0 turns validation off, so "
                f"{monitor} is never logged; validate, or switch that callback off "
                "(callbacks=none)"
            )
        if not logs_metric(monitor, scheme):
            raise ConfigError(
                f"{key}={monitor}: data.train_scheme={scheme} has no spans, so {monitor} is "
                "never logged; set data.headline=acc, or a span scheme (data.file_scheme/"
                "data.train_scheme=bio, bioes) for NER data"
            )


def check_seed(seed: Any) -> int:
    """``seed`` when numpy accepts it (0 to 2**32 - 1), else a ``ConfigError`` naming ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed={seed}: expected an integer from 0 to {2**32 - 1} (or null)")
    return seed


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


def prepare_before_launch(trainer: Trainer, datamodule: LightningDataModule) -> None:
    """Run ``prepare_data`` (read, check and cache the corpus) now, on the process that
    Lightning would run it on, before DDP starts any other process.

    Bad input then ends in one message before a child process or a process group exists (a
    failure inside ``fit`` would leave the other ranks waiting at the barrier), and the ranks
    that start later read a filled cache in ``setup``. Lightning's own call is then a no-op."""
    per_node = getattr(datamodule, "prepare_data_per_node", True)
    if trainer.local_rank == 0 and (per_node or trainer.node_rank == 0):
        datamodule.prepare_data()


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (unless ``train=false``) and test; return the final metrics as floats."""
    if cfg.get("seed") is not None:  # seed 0 is honoured
        L.seed_everything(check_seed(cfg.seed), workers=True)

    output_dir = Path(cfg.paths.output_dir)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir)
    log.info(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule: LightningDataModule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))  # encode for the model's embedder
    log.info(f"Instantiating model <{cfg.model._target_}>")
    # a checkpoint gives the weights: the embedder's vectors file is then not read (issue 7.4)
    model: LightningModule = hydra.utils.instantiate(
        cfg.model, _recursive_=False, read_pretrained=ckpt_path is None
    )
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    loggers = instantiate_loggers(cfg.get("logger"))
    log.info(f"Instantiating trainer <{cfg.trainer._target_}>")
    trainer: Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)

    if cfg.get("train"):
        check_run_length(trainer)
        check_monitors(cfg, datamodule, trainer)
    elif cfg.get("test") and ckpt_path is None:
        raise ConfigError(
            "train=false tests a trained model: give ckpt_path=PATH (or ckpt_path=auto with "
            "the run's run_name); without one the test would score untrained weights"
        )
    prepare_before_launch(trainer, datamodule)
    if trainer.is_global_zero:
        save_resolved_config(cfg, output_dir)
    else:  # one train.log per run: rank 0's; the other ranks log to the console
        remove_file_handlers()

    if cfg.get("train"):
        log.info("Starting training")
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        if trainer.is_global_zero:
            save_vocabs(datamodule, output_dir / "vocab")
    fit_metrics = scalar_metrics(trainer.callback_metrics)

    test_metrics: dict[str, float] = {}
    if cfg.get("test") and not datamodule.has_split("test"):
        log.warning("test=true but the data has no test split: skipping the test stage")
    elif cfg.get("test"):
        log.info("Starting testing")
        tested = best_checkpoint(trainer) if cfg.get("train") else ckpt_path
        trainer.test(model, datamodule=datamodule, ckpt_path=tested)
        log.info(f"Tested checkpoint: {tested}")
        test_metrics = {
            name: value
            for name, value in scalar_metrics(trainer.callback_metrics).items()
            if name.startswith("test/")
        }

    metrics = {**fit_metrics, **test_metrics}
    if trainer.is_global_zero:
        write_json(test_metrics or metrics, output_dir / "metrics.json")
        _log_hparams(cfg, loggers, metrics)
    return metrics


def best_checkpoint(trainer: Trainer) -> str | None:
    """The fit's best checkpoint; None (the trained weights as they are) when none was saved."""
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None else ""
    if not best:
        log.warning("No best checkpoint was saved: testing the weights as trained")
    return best or None


def _log_hparams(cfg: DictConfig, loggers: list, metrics: dict[str, float]) -> None:
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


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Console entry point; returns the optimised metric for Hydra sweepers. Bad input (a
    corpus, a checkpoint, a config value) ends in one message and exit code 2."""
    apply_extras(cfg)
    with user_errors("seqtagger-train"):
        metrics = train(cfg)
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None


if __name__ == "__main__":
    main()
