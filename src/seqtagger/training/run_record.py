"""What a run's model card needs that no file keeps: the dev curve and the run's wall time.

:class:`RunRecord` notes the headline dev values (loss, accuracy, span F1; a model of several
tasks logs each task's too, ``val/upos/acc``) after every validation of the fit, and how long the
run has taken. Both travel in the checkpoints as the callback's state, so a run resumed with
``ckpt_path=auto`` carries the epochs and the seconds of the sessions before it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

# a dev metric on the curve: a name whose last part is one of these (``val/f1``,
# ``val/ner/f1``); per-type values (``val/f1/LOC``) and the strict variant are left out
CURVE_METRICS = ("loss", "acc", "f1")


def curve_metric(name: str) -> bool:
    """Whether the dev metric ``name`` belongs on the curve (see :data:`CURVE_METRICS`)."""
    parts = name.split("/")
    return parts[0] == "val" and parts[-1] in CURVE_METRICS and "strict" not in parts


class RunRecord(Callback):
    """The dev values of every validation of the fit and the run's wall time (see the module
    docstring); ``curve`` holds ``{"epoch": 1-based, "step": global step, "val/...": value}``
    per validation, in order."""

    def __init__(self) -> None:
        self.curve: list[dict[str, float]] = []
        self.earlier_s = 0.0  # the sessions before a resume, up to their last checkpoint
        self._started = time.monotonic()
        self._resuming = False

    @property
    def state_key(self) -> str:
        return "RunRecord"

    def seconds(self) -> float:
        """This command's seconds so far plus those of the sessions it resumed."""
        return self.earlier_s + self.session_s()

    def session_s(self) -> float:
        """Seconds since this command built its callbacks."""
        return time.monotonic() - self._started

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        values = {
            name: float(value)
            for name, value in trainer.callback_metrics.items()
            if curve_metric(name) and math.isfinite(float(value))
        }
        point = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        self.curve.append({**point, **dict(sorted(values.items()))})

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Lightning restores callbacks for the test of a checkpoint too: the best one's record
        # would replace the epochs after it
        self._resuming = trainer.state.fn == TrainerFn.FITTING

    def state_dict(self) -> dict[str, Any]:
        return {"curve": [dict(point) for point in self.curve], "seconds": self.seconds()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not self._resuming:
            return
        self.curve = [dict(point) for point in state_dict.get("curve", [])]
        self.earlier_s = float(state_dict.get("seconds", 0.0))
