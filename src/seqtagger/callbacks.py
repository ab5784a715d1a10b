"""Callbacks of our own.

``StepSeed`` makes the randomness of every training step (dropout, word dropout) a function of
(seed, epoch, batch, rank) alone. Lightning restores weights, optimizer and loop state on resume,
but not the global RNG, and DataLoader iterators draw from that RNG at times that differ between
an uninterrupted and a resumed run; reseeding before each step makes a run resumed from
``last.ckpt`` continue exactly as the uninterrupted run would. (``torch.manual_seed`` sets
generator state only: no kernel, no device sync.)
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning import Callback, LightningModule, Trainer


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
        torch.manual_seed(self.step_seed(trainer.current_epoch, batch_idx, trainer.global_rank))
