"""What ``seqtagger-train`` checks and prepares before fitting: the checkpoint to resume from, runs
that could only end in wrong numbers (refused at start-up, not after an epoch), the seed, and the
corpus read once before DDP starts other processes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning import LightningDataModule, Trainer
from omegaconf import DictConfig

from seqtagger.checkpoint import load_checkpoint
from seqtagger.errors import CheckpointError, ConfigError, SweepConfigError
from seqtagger.metrics.stages import logs_metric
from seqtagger.utils.pylogger import RankedLogger
from seqtagger.utils.slurm import discard_partial_epoch_checkpoints

log = RankedLogger(__name__, rank_zero_only=True)


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
    """Refuse a fit that trains nothing: its test would score untrained weights."""
    for key in ("max_epochs", "max_steps"):
        if getattr(trainer, key) == 0:
            raise ConfigError(
                f"trainer.{key}=0 trains nothing, and the test would score untrained weights: "
                f"set trainer.{key} >= 1, or test a trained model with train=false "
                "ckpt_path=PATH"
            )


def check_test_only(
    cfg: DictConfig, datamodule: LightningDataModule, ckpt_path: str | None
) -> None:
    """Refuse ``train=false`` runs that could only end without numbers (no test, or no test
    split: ``metrics.json`` would be ``{}``) or with an untrained model's (no checkpoint)."""
    if not cfg.get("test"):
        raise ConfigError(
            "train=false with test=false runs nothing, and metrics.json would be empty: test a "
            "trained model with train=false ckpt_path=PATH (test=true), or train"
        )
    if ckpt_path is None:
        raise ConfigError(
            "train=false tests a trained model: give ckpt_path=PATH (or ckpt_path=auto with "
            "the run's run_name); without one the test would score untrained weights"
        )
    splits = getattr(datamodule, "configured_splits", None)
    if splits is not None and "test" not in splits():
        raise ConfigError(
            f"train=false tests ckpt_path={ckpt_path}, but the data has no test split "
            "(data.files.test is not set), so the run would end without numbers: give "
            f"data.files.test=PATH, or score any file with seqtagger-eval ckpt_path={ckpt_path} "
            "+sets.NAME=PATH"
        )


def check_monitors(cfg: DictConfig, datamodule: LightningDataModule, trainer: Trainer) -> None:
    """Refuse, at start-up, a callback or LR scheduler that monitors a metric the run never
    logs; Lightning would only notice after a whole epoch."""
    headline = f"val/{getattr(datamodule, 'headline', 'acc')}"
    monitors = {
        f"callbacks.{name}.monitor": conf.get("monitor")
        for name, conf in (cfg.get("callbacks") or {}).items()
        if conf is not None and conf.get("monitor")
    }
    model = cfg.get("model") or {}
    scheduler = model.get("scheduler") or {}
    if str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau"):
        monitors["model.scheduler_monitor"] = model.get("scheduler_monitor") or headline
    for key, monitor in monitors.items():
        if str(monitor).startswith("val/"):
            off = "switch that callback off (callbacks=none)"
            setting = f"{key}={monitor}"
            problem = never_logged(setting, str(monitor), datamodule, trainer, switch_off=off)
            if problem:
                raise ConfigError(problem)


def check_optimized_metric(
    cfg: DictConfig, datamodule: LightningDataModule, trainer: Trainer
) -> None:
    """Refuse, at start-up, an ``optimized_metric`` (the value a sweep optimises) that this run
    cannot log: a ``val/`` metric without fitting or validating, a ``test/`` one without
    testing, a span metric on data without spans. Names that could be logged are checked
    against the logged ones after the run (``seqtagger.training.sweep.optimized_value``)."""
    name = cfg.get("optimized_metric")
    if not name:
        return
    name, key = str(name), f"optimized_metric={name}"
    problem = None
    if name.startswith("val/") and not cfg.get("train"):
        problem = f"{key}: train=false runs no validation, so {name} is never logged"
    elif name.startswith("test/") and not cfg.get("test"):
        problem = f"{key}: test=false runs no test, so {name} is never logged"
    elif name.startswith(("val/", "test/")):
        off = "optimise another metric"
        problem = never_logged(key, name, datamodule, trainer, switch_off=off)
    if problem:
        raise SweepConfigError(problem)


def never_logged(
    key: str, name: str, datamodule: LightningDataModule, trainer: Trainer, switch_off: str
) -> str | None:
    """Why the run will never log the metric ``name`` that ``key`` asks for (the message,
    ending in the two ways out: validate, or ``switch_off``), or None."""
    scheme = getattr(datamodule, "train_scheme", "plain")
    if name.startswith("val/") and trainer.limit_val_batches == 0:
        return (
            f"{key}: trainer.limit_val_batches=0 turns validation off, so {name} is never "
            f"logged; validate, or {switch_off}"
        )
    if not logs_metric(name, scheme):
        return (
            f"{key}: data.train_scheme={scheme} has no spans, so {name} is never logged; set "
            "data.headline=acc, or a span scheme (iob1, iob2 or bioes in data.file_scheme / "
            "data.train_scheme) for NER data"
        )
    return None


def check_devices(trainer_cfg: DictConfig) -> None:
    """Refuse ``trainer.accelerator=gpu`` without a CUDA device, or ``trainer.devices`` beyond
    the ones there are; Lightning raises a bare MisconfigurationException (exit code 1)."""
    import torch

    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda"):
        return
    count, devices = torch.cuda.device_count(), trainer_cfg.get("devices", "auto")
    wanted = [devices - 1] if isinstance(devices, int) and devices > 0 else []
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        wanted = [int(index) for index in devices]
    if count and not any(index >= count for index in wanted):
        return
    choice = _config_choice("trainer")
    who = f"trainer={choice}" if choice else "the trainer"
    settings = f"trainer.accelerator={accelerator}, trainer.devices={devices}"
    asked = f"{who} asks for {_gpus_asked(devices)} ({settings})"
    if count == 0:
        raise ConfigError(f"{asked} but this machine has none: use trainer=cpu")
    raise ConfigError(
        f"{asked} but this machine has {count} (GPU 0 to {count - 1}): ask for at most "
        f"{count} (trainer.devices={count}), or use trainer=cpu"
    )


def _gpus_asked(devices: Any) -> str:
    """``1 GPU``, ``2 GPUs``, ``GPU 0, 3`` or ``every GPU`` (``auto``, ``-1``)."""
    if isinstance(devices, int) and devices > 0:
        return f"{devices} GPU" + ("s" if devices > 1 else "")
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        return "GPU " + ", ".join(str(index) for index in devices)
    return "every GPU"


def _config_choice(group: str) -> str | None:
    """The run's choice in a config group (``gpu`` for ``trainer=gpu``), when Hydra composed
    it; None otherwise."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get(group)


def cpu_runs_bf16_lstm() -> bool:
    """Whether this CPU's oneDNN runs an LSTM under bf16 autocast (CPUs with AVX2 but no AVX-512
    fail with "could not create a primitive descriptor for the LSTM forward propagation")."""
    lstm = torch.nn.LSTM(4, 2, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 2, 4))
    except RuntimeError:
        return False
    return True


def check_cpu_precision(cfg: DictConfig, trainer: Trainer) -> None:
    """Refuse bf16 for an LSTM model on a CPU that cannot run it, with the key to change,
    before the first step fails inside oneDNN."""
    if trainer.strategy.root_device.type != "cpu" or "bf16" not in str(trainer.precision):
        return
    model = cfg.get("model") or {}
    encoder = str((model.get("encoder") or {}).get("_target_", ""))
    char_lstm = (model.get("embedding") or {}).get("char_encoder") == "lstm"
    if (encoder.endswith("LSTMEncoder") or char_lstm) and not cpu_runs_bf16_lstm():
        raise ConfigError(
            f"trainer.precision={trainer.precision} on this CPU "
            f"({torch.backends.cpu.get_cpu_capability()}): its oneDNN has no bf16 LSTM kernel, "
            "so the model's LSTM cannot run under bf16 autocast; set trainer.precision=32 here "
            "(bf16 pays on a GPU)"
        )


def check_seed(seed: Any) -> int:
    """``seed`` when numpy accepts it (0 to 2**32 - 1), else a ``ConfigError`` naming ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed={seed}: expected an integer from 0 to {2**32 - 1} (or null)")
    return seed


def prepare_before_launch(trainer: Trainer, datamodule: LightningDataModule) -> None:
    """Run ``prepare_data`` (read, check and cache the corpus) now, on the process that
    Lightning would run it on, before DDP starts any other process.

    Bad input then ends in one message before a child process or a process group exists (a
    failure inside ``fit`` would leave the other ranks waiting at the barrier), and the ranks
    that start later read a filled cache in ``setup``. Lightning's own call is then a no-op."""
    per_node = getattr(datamodule, "prepare_data_per_node", True)
    if trainer.local_rank == 0 and (per_node or trainer.node_rank == 0):
        datamodule.prepare_data()
