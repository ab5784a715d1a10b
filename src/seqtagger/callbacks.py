"""Callbacks of our own: exact-resume seeding and a per-epoch summary line (with progress lines
within long epochs).

``StepSeed`` makes the randomness of every training step (dropout, word dropout) a function of
(seed, epoch, batch, rank) alone. Lightning restores weights, optimizer and loop state on resume,
but not the global RNG, and DataLoader iterators draw from that RNG at times that differ between
an uninterrupted and a resumed run; reseeding before each step makes a run resumed from
``last.ckpt`` continue exactly as the uninterrupted run would. (Seeding sets generator state
only: no kernel, no device sync.)
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn

from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


class StepSeed(Callback):
    """Reseed torch (all devices) before every training step; python and numpy every epoch."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def step_seed(self, epoch: int, batch_idx: int, rank: int) -> int:
        """The seed of one step on one rank (distinct across epochs, steps and ranks)."""
        return (self.seed * 1_000_003 + epoch * 100_003 + batch_idx * 1_009 + rank) % (2**31 - 1)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        seed = self.step_seed(trainer.current_epoch, -1, trainer.global_rank)
        random.seed(seed)
        np.random.seed(seed)

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        seed_generators(self.step_seed(trainer.current_epoch, batch_idx, trainer.global_rank))


def seed_generators(seed: int) -> None:
    """What ``torch.manual_seed(seed)`` does to the generators a run can use (the CPU's, every
    initialised CUDA or XPU device's, MPS'), without its cost when an accelerator backend was
    never initialised: there it queues the seed for later and formats a stack trace for the
    record, for CUDA, XPU and MTIA each, about 2 ms a step on this CPU (2-3% of a batch-32 step)."""
    torch.random.default_generator.manual_seed(seed)
    if torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(seed)
    if torch.xpu.is_initialized():
        torch.xpu.manual_seed_all(seed)
    if torch.backends.mps.is_available():
        torch.mps.manual_seed(seed)


class EpochSummary(Callback):
    """One log line per epoch: headline metrics, wall time and training tokens/s.

    Progress bars draw nothing useful in a non-interactive log (SLURM, nohup); this line does,
    and it lands in the run's log file. Tokens are summed on the device and read once per epoch,
    so it adds no per-step host sync. An epoch longer than ``progress_every_s`` seconds also gets
    a progress line that often (batches done, time in, time left in the epoch; 0: none): a CPU
    or transformer epoch can take many minutes with nothing else in the log.
    """

    VAL_METRICS = (
        "val/loss",
        "val/acc",
        "val/f1",
        "val/acc_best",
        "val/f1_best",
    )

    def __init__(self, progress_every_s: float = 60.0) -> None:
        self.progress_every_s = float(progress_every_s)
        self._start = self._val_start = self._val_seconds = self._shown = 0.0
        self._tokens: torch.Tensor | int = 0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = self._shown = time.perf_counter()
        self._val_seconds = 0.0
        self._tokens = 0

    # validation at the end of an epoch runs inside it: its time is not training time
    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_seconds += time.perf_counter() - self._val_start

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._tokens = self._tokens + batch["lengths"].sum()
        now = time.perf_counter()
        if self.progress_every_s > 0 and now - self._shown >= self.progress_every_s:
            self._shown = now
            self._log_progress(trainer, batch_idx + 1, now)

    def _log_progress(self, trainer: Trainer, done: int, now: float) -> None:
        """``epoch 3/8: batch 120/391 (31%), 4.2 min in, about 9.5 min left in the epoch``."""
        minutes = (now - self._start - self._val_seconds) / 60
        total = trainer.num_training_batches
        where = f"batch {done}"
        if isinstance(total, int) and total > 0:
            left = minutes / done * (total - done)
            where += f"/{total} ({done / total:.0%}), {minutes:.1f} min in, about {left:.1f} min"
            where += " left in the epoch"
        else:
            where += f", {minutes:.1f} min in"
        log.info(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {where}")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        seconds = time.perf_counter() - self._start
        train_seconds = max(seconds - self._val_seconds, 1e-9)
        # every rank's tokens (ranks see different sentences): one all-reduce per epoch
        local = torch.as_tensor(self._tokens, device=pl_module.device)
        tokens = int(trainer.strategy.reduce(local, reduce_op="sum"))
        shown = self._train_metrics(pl_module)
        metrics = trainer.callback_metrics
        shown += [
            f"{name} {float(metrics[name]):.4f}" for name in self.VAL_METRICS if name in metrics
        ]
        log.info(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {', '.join(shown)} | "
            f"{seconds:.1f} s ({train_seconds:.1f} s training), "
            f"{tokens / train_seconds:,.0f} train tokens/s"
        )

    @staticmethod
    def _train_metrics(pl_module: LightningModule) -> list[str]:
        # Lightning calls this hook before the module's own on_train_epoch_end, so the logged
        # train/* values would be last epoch's: ask the module for this epoch's (a module
        # without ``epoch_so_far`` shows none)
        so_far = getattr(pl_module, "epoch_so_far", None)
        values = so_far("train") if so_far is not None else {}
        return [f"train/{name} {value:.4f}" for name, value in values.items()]


class EMAWeights(EMAWeightAveraging):
    """Lightning's ``EMAWeightAveraging`` whose test and validation after ``fit`` use the average.

    A checkpoint it writes holds the averaged weights in ``state_dict`` and the raw ones in
    ``current_model_state``. Lightning's callback loads the raw ones whenever its average exists,
    which is also true in ``trainer.test(ckpt_path="best")`` right after fitting: the test then
    scored the raw weights, not the checkpoint's average (measured: equal to a run without it).
    Only a resumed ``fit`` needs the raw weights; every other stage keeps ``state_dict``.
    """

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
