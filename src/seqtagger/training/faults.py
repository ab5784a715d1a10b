"""Numerical and memory faults during training end in one message that says what to change.

- A NaN or inf training loss stops the run before its backward pass, so no weight is updated
  from it and no checkpoint is written after it: ``checkpoints/last.ckpt`` stays the last good
  one (the end of the previous epoch). The message names the step, the batch's sentences (the
  ``index`` column: rows of the training split) and the likely causes. It is a
  :class:`~seqtagger.errors.NonFiniteLossError` (a ``UserError``, exit code 2): the fix is in the
  run's settings or data, not in seqtagger. When the model can name the cause (a constrained
  CRF given gold tags that break the train scheme: an infinite loss), the message names those
  sentences and their first forbidden step instead of the usual suspects.
- Running out of GPU memory is reported with the shape of the batch that did not fit and the
  way out (``data.batch_unit=tokens`` with a size), as an
  :class:`~seqtagger.errors.OutOfMemoryError`.
- A SIGTERM (``kill``, ``timeout``, a scheduler ending the job) stops the run at the end of its
  step, as Lightning does, but with exit code 143 (128 + SIGTERM) and a message naming the
  checkpoint to resume from: Lightning exits 0, so a killed run looked finished to the shell.

Checking the loss reads one scalar per step from the device (a sync); it happens before the
backward pass, whose kernels need the loss anyway, so little is lost. Under DDP the ranks first
agree on it (one small all-reduce per step): every rank stops at the same step, the one whose
loss is not finite naming its batch, the others naming that rank.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import Tensor

from seqtagger.errors import NonFiniteLossError, OutOfMemoryError

MAX_LISTED = 20  # sentence indices named in a message


def _shape(batch: Mapping[str, Any]) -> tuple[int, int] | None:
    mask = batch.get("mask") if isinstance(batch, Mapping) else None
    return tuple(mask.shape) if isinstance(mask, Tensor) else None


def _indices(batch: Mapping[str, Any]) -> str:
    rows = batch["index"].tolist() if "index" in batch else []
    listed = ", ".join(str(row) for row in rows[:MAX_LISTED])
    return listed + (f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else "")


def _last_good_checkpoint(trainer: Trainer) -> str:
    """The newest checkpoint written, ``last.ckpt`` first among equals: what ``auto`` resumes."""
    paths = [cb.last_model_path or cb.best_model_path for cb in trainer.checkpoint_callbacks]
    saved = [Path(path) for path in paths if path and Path(path).is_file()]
    if not saved:
        return "no checkpoint had been written yet"
    newest = max(saved, key=lambda path: (path.stat().st_mtime, path.name == "last.ckpt"))
    return f"the last good checkpoint is kept: {newest} (resume with ckpt_path=auto)"


def _ranks_with_non_finite(trainer: Trainer, loss: Tensor) -> list[int]:
    """The ranks whose ``loss`` is not finite. Under DDP the ranks agree first (one all-reduce
    of ``world_size`` flags), so all stop at the same step; a rank stopping alone would leave
    the others failing inside the gradients' all-reduce."""
    bad = ~torch.isfinite(loss).all()
    if trainer.world_size == 1:
        return [0] if bool(bad) else []
    flags = torch.zeros(trainer.world_size, device=loss.device)
    flags[trainer.global_rank] = bad.float()
    flags = trainer.strategy.reduce(flags, reduce_op="sum")
    return torch.nonzero(flags).flatten().tolist()


class FaultGuard(Callback):
    """Stop on a non-finite training loss; remember the shape of the batch in flight."""

    def __init__(self) -> None:
        self.batch: Mapping[str, Any] = {}
        self.batch_idx = 0
        self.stage = "train"

    def _remember(self, stage: str, batch: Any, batch_idx: int) -> None:
        self.stage, self.batch, self.batch_idx = stage, batch, batch_idx

    def on_train_batch_start(self, trainer: Trainer, module: LightningModule, batch: Any, i: int):
        self._remember("train", batch, i)

    def on_validation_batch_start(self, trainer, module, batch: Any, i: int, *args: Any) -> None:
        self._remember("validation", batch, i)

    def on_test_batch_start(self, trainer, module, batch: Any, i: int, *args: Any) -> None:
        self._remember("test", batch, i)

    def on_before_backward(self, trainer: Trainer, module: LightningModule, loss: Tensor) -> None:
        failed = _ranks_with_non_finite(trainer, loss.detach())
        if not failed:
            return
        if trainer.global_rank not in failed:  # healthy, but the update would need that rank
            raise NonFiniteLossError(
                f"the training loss is not finite on rank {', '.join(map(str, failed))} at step "
                f"{trainer.global_step}: stopped on every rank before the update (that rank's "
                f"message names the batch); {_last_good_checkpoint(trainer)}"
            )
        ill_formed = getattr(module, "ill_formed_gold", lambda batch: [])(self.batch)
        if ill_formed:
            scheme = next((t.train_scheme for t in module.tasks if t.has_spans), None)
            raise NonFiniteLossError(self._ill_formed_message(trainer, loss, ill_formed, scheme))
        hparams = module.hparams
        lr = (hparams.get("optimizer") or {}).get("lr")
        vectors = (hparams.get("embedding") or {}).get("pretrained")
        rank = f" on rank {trainer.global_rank}" if trainer.world_size > 1 else ""
        raise NonFiniteLossError(
            f"the training loss is {float(loss.detach().float().sum())}{rank} at step "
            f"{trainer.global_step} (epoch {trainer.current_epoch}, batch {self.batch_idx}); "
            f"the batch holds training sentences {_indices(self.batch)} (0-based). Likely "
            f"causes: a learning rate too high (model.optimizer.lr={lr}: try a tenth), "
            f"half precision overflowing (trainer.precision={trainer.precision}: use "
            f"bf16-mixed or 32-true), non-finite values in the pretrained vectors "
            f"(model.embedding.pretrained={vectors}), or an outlier sentence in that batch. "
            f"Stopped before the update; {_last_good_checkpoint(trainer)}"
        )

    def _ill_formed_message(
        self, trainer: Trainer, loss: Tensor, ill_formed: list[tuple[int, str]], scheme: str
    ) -> str:
        """The loss is infinite because gold paths break the CRF's scheme constraints: name the
        sentences (rows of the training split) and their first forbidden step."""
        rows = self.batch["index"].tolist() if "index" in self.batch else None
        listed = "; ".join(
            f"{rows[row] if rows else row}: {step}" for row, step in ill_formed[:MAX_LISTED]
        )
        more = f" and {len(ill_formed) - MAX_LISTED} more" if len(ill_formed) > MAX_LISTED else ""
        return (
            f"the training loss is {float(loss.detach().float().sum())} at step "
            f"{trainer.global_step} (epoch {trainer.current_epoch}, batch {self.batch_idx}): "
            f"the gold tags of training sentences {listed}{more} (0-based) are not well formed "
            f"in data.train_scheme={scheme}, a path the constrained CRF gives probability 0 "
            "(not the learning rate). Fix those tags, or train without the constraints "
            f"(model.head.constrained=false). Stopped before the update; "
            f"{_last_good_checkpoint(trainer)}"
        )

    def describe_batch(self) -> str:
        """``the validation batch of 64 sentences x 212 tokens`` (the one in flight)."""
        shape = _shape(self.batch)
        if shape is None:
            return "a batch"
        return f"the {self.stage} batch of {shape[0]} sentences x {shape[1]} tokens"


@contextmanager
def reraise_out_of_memory(message: Callable[[str], str]) -> Iterator[None]:
    """Re-raise the accelerator's out-of-memory error as an ``OutOfMemoryError`` whose text is
    ``message(first line of torch's message)``: what did not fit and the way out."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        first = str(error).splitlines()[0] if str(error) else "CUDA out of memory"
        raise OutOfMemoryError(message(first)) from error


def out_of_memory_hint(trainer: Trainer) -> AbstractContextManager[None]:
    """Training's out-of-memory message: the batch in flight and how to make batches smaller."""

    def message(cause: str) -> str:
        guards = [cb for cb in trainer.callbacks if isinstance(cb, FaultGuard)]
        batch = guards[0].describe_batch() if guards else "a batch"
        return (
            f"out of GPU memory on {batch} (sentences x padded length): give smaller batches "
            "of equal size in tokens, e.g. data.batch_unit=tokens data.batch_size=4000 (and "
            f"data.eval_batch_size), or a shorter data.max_length; ({cause})"
        )

    return reraise_out_of_memory(message)


@contextmanager
def stopped_by_sigterm(trainer: Trainer, program: str) -> Iterator[None]:
    """End a run that Lightning stopped on SIGTERM (its ``SIGTERMException``, a ``SystemExit``
    of code 0) with code 143 and one line on stderr: where it stopped, what to resume from."""
    try:
        yield
    except SIGTERMException:
        if trainer.is_global_zero:
            print(
                f"{program}: stopped by SIGTERM at epoch {trainer.current_epoch + 1}, step "
                f"{trainer.global_step}; {_last_good_checkpoint(trainer)}",
                file=sys.stderr,
            )
        sys.exit(128 + signal.SIGTERM)
