"""A run's folder holds one run: a new run given the folder of an earlier one (a fixed
``run_name``, a sweep run again under its name) is refused unless it says to replace it
(``overwrite=true``); a run from a checkpoint (``ckpt_path=auto``, a path) continues in it. Every
run that checkpoints writes ``checkpoints/last.ckpt`` there, whatever its callbacks."""

from __future__ import annotations

import shutil
from pathlib import Path

from lightning import Callback
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from omegaconf import DictConfig

from seqtagger.errors import ConfigError, SweepConfigError
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

CHECKPOINTS = "checkpoints"
# what a run leaves that a second one would replace or mix with its own
RESULTS = ("metrics.json", "tensorboard")


def earlier_run(output_dir: Path) -> list[str]:
    """What an earlier run left in ``output_dir``: its checkpoint files and ``metrics.json``."""
    found = [f"{CHECKPOINTS}/{path.name}" for path in (output_dir / CHECKPOINTS).glob("*.ckpt")]
    return sorted(found) + (["metrics.json"] if (output_dir / "metrics.json").is_file() else [])


def check_run_folder(cfg: DictConfig, output_dir: Path, in_search: bool = False) -> None:
    """Refuse a new run (no ``ckpt_path``) whose folder holds an earlier run; with
    ``overwrite=true`` remove that run's checkpoints, metrics and TensorBoard events instead.
    In a search it is the search's mistake (every trial of a sweep run again): a
    ``SweepConfigError``, which ends it."""
    left = earlier_run(output_dir)
    if not left or cfg.get("ckpt_path") is not None:
        return
    if cfg.get("overwrite"):
        log.warning(f"overwrite=true: removing the earlier run in {output_dir}: {', '.join(left)}")
        remove_earlier_run(output_dir)
        return
    error = SweepConfigError if in_search else ConfigError
    raise error(
        f"run_name={cfg.get('run_name')}: {output_dir} already holds a run ({', '.join(left)}); "
        "resume it with ckpt_path=auto, choose another run_name, or replace it with "
        "overwrite=true"
    )


def remove_earlier_run(output_dir: Path) -> None:
    """Remove the checkpoints, ``metrics.json`` and TensorBoard events of a run (every rank
    may do it at once: a file already gone is no error)."""
    shutil.rmtree(output_dir / CHECKPOINTS, ignore_errors=True)
    for name in RESULTS:
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def with_run_checkpoint(
    callbacks: list[Callback], output_dir: Path, trainer_cfg: DictConfig
) -> list[Callback]:
    """``callbacks``, plus one writing ``checkpoints/last.ckpt`` after every validation (as
    ``callbacks.last_checkpoint``) when none of them checkpoints (``callbacks=none``).
    Lightning's own default would write ``tensorboard/checkpoints/epoch=0-step=12.ckpt``:
    ``ckpt_path=auto`` never finds it, and Hydra's grammar cannot take its ``=``."""
    if not trainer_cfg.get("enable_checkpointing", True):
        return callbacks
    if any(isinstance(callback, Checkpoint) for callback in callbacks):
        return callbacks
    last = ModelCheckpoint(
        dirpath=output_dir / CHECKPOINTS,
        filename="last",
        monitor=None,
        save_top_k=1,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    return [*callbacks, last]
