"""Test probes: callbacks a test names on the command line of a child process
(``+callbacks.<name>._target_=tests.probes.<Class>``), to record or disturb what each DDP rank
does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lightning import Callback, LightningModule, Trainer


class RecordTrainingRows(Callback):
    """Test probe, named on the command line (``+callbacks.probe._target_=...``): every rank
    writes, per training epoch, the dataset rows (batch ``index``) it trained on and a digest
    of its vocabularies to ``folder/rank<R>_epoch<E>.json``."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.rows: list[int] = []
        self.batches = 0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.rows, self.batches = [], 0

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.rows += batch["index"].tolist()
        self.batches += 1

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        vocabs = json.dumps(trainer.datamodule.data_info()["vocabs"], sort_keys=True)
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "rows": self.rows,
            "batches": self.batches,
            "vocabs": hashlib.sha256(vocabs.encode()).hexdigest(),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"rank{trainer.global_rank}_epoch{trainer.current_epoch}.json"
        (self.folder / name).write_text(json.dumps(record), encoding="utf-8")


class PoisonOneRank(Callback):
    """Makes the training loss NaN on rank ``rank`` only, from global step ``step`` on: every
    parameter of that rank's head becomes NaN before the batch's forward pass, as an overflow
    on one shard of the data would."""

    def __init__(self, rank: int, step: int = 1) -> None:
        self.rank, self.step = rank, step

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_rank == self.rank and trainer.global_step >= self.step:
            for parameter in pl_module.tagger.head.parameters():
                parameter.data.fill_(float("nan"))


class SimulatedSigterm(Callback):
    """Test probe: after training step ``step`` the run behaves as if it had received SIGTERM
    (Lightning's signal handler sets this flag; a real signal would hit pytest too)."""

    def __init__(self, step: int = 3) -> None:
        self.step = step

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        if trainer.global_step == self.step:
            trainer._signal_connector.received_sigterm = True
