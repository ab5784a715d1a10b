"""Optimisation: the configured optimizer, the learning-rate schedule and its length, parameter
groups by name for fine-tuning, a linear warm-up/decay schedule and a one-cycle schedule for runs
of any length.

A pretrained transformer is fine-tuned with a learning rate ~20x smaller than the layers
trained from scratch (the tagging head, a scalar mix, a character CNN): one rate for both either
destroys the pretrained weights or leaves the head untrained. Both pieces are plain
``_partial_`` configs (``configs/model/hf.yaml``, ``configs/model/scheduler/linear_warmup.yaml``),
nothing in ``TaggerModule`` is transformer-specific: it hands ``named_parameters`` to any
optimizer factory whose signature asks for them.

    optimizer:
      _target_: seqtagger.training.optim.grouped_optimizer
      _partial_: true
      optimizer: {_target_: torch.optim.AdamW, _partial_: true}
      lr: 1.0e-3                       # every parameter no group claims
      groups: [{prefix: embedder.transformer., lr: 5.0e-5}]

An optimizer that can run fused (Adam, AdamW, SGD, Adagrad) is built fused unless its config
sets ``fused`` or ``foreach``: on the CPU torch otherwise updates one tensor at a time, which was
16% of a batch-32 BiLSTM-CRF step (fused, training ran 1.16x faster; docs/performance.md). Not
under Lightning's mixed precision, which refuses gradient clipping with a fused optimizer.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import hydra
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR, ReduceLROnPlateau

from seqtagger.errors import ConfigError
from seqtagger.utils.targets import to_plain

__all__ = [
    "LinearWarmupDecay",
    "OneCycle",
    "build_scheduler",
    "grouped_optimizer",
    "parameter_groups",
]

DEFAULT_GROUP = "default"


def parameter_groups(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    groups: Sequence[Mapping[str, Any]] = (),
    no_decay: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Split trainable parameters into optimizer groups.

    Args:
        named_parameters: ``(name, parameter)`` pairs, named as the ``Tagger`` names them.
        groups: each a ``prefix`` plus optimizer options (``lr``, ``weight_decay``); a parameter
            joins the first group whose prefix starts its name, else the default group.
        no_decay: name endings (``bias``, ``LayerNorm.weight``) whose parameters get
            ``weight_decay=0`` inside their group (the usual BERT fine-tuning rule).

    Returns:
        torch param-group dicts with a ``name`` (the prefix without its final dot, or
        ``default``; ``/no_decay`` added), which ``LearningRateMonitor`` logs as
        ``lr-AdamW/<name>``. Frozen parameters and empty groups are left out.

    Raises:
        ConfigError: a group without ``prefix``, or a prefix that names no parameter (a typo
            would otherwise silently train everything at the default rate).
    """
    named = list(named_parameters)
    specs = [dict(to_plain(group)) for group in groups]
    for index, spec in enumerate(specs):
        prefix = spec.get("prefix")
        if not prefix:
            raise ConfigError(f"model.optimizer.groups.{index}: expected a `prefix` key")
        if not any(name.startswith(prefix) for name, _ in named):
            raise ConfigError(
                f"model.optimizer.groups.{index}.prefix={prefix}: no parameter name starts with "
                f"it (names look like {named[0][0] if named else '(none)'})"
            )
    buckets: dict[tuple[int, bool], list[nn.Parameter]] = {}
    for name, parameter in named:
        if not parameter.requires_grad:
            continue
        index = next((i for i, s in enumerate(specs) if name.startswith(s["prefix"])), -1)
        decays = not any(name.endswith(ending) for ending in no_decay)
        buckets.setdefault((index, decays), []).append(parameter)
    result = []
    for (index, decays), parameters in sorted(buckets.items(), key=lambda kv: kv[0]):
        options = {k: v for k, v in specs[index].items() if k != "prefix"} if index >= 0 else {}
        name = specs[index]["prefix"].rstrip(".") if index >= 0 else DEFAULT_GROUP
        if not decays:
            options["weight_decay"] = 0.0
            name += "/no_decay"
        result.append({"params": parameters, "name": name, **options})
    return result


def build_optimizer(
    config: Any,
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    mixed_precision: bool = False,
) -> Optimizer:
    """The ``_partial_`` optimizer ``config`` called with the parameters, fused where
    :func:`fused_option` allows. A factory that asks for ``named_parameters``
    (:func:`grouped_optimizer`) gets them as the ``Tagger`` names them
    (``embedder.transformer.…``); any other gets the bare parameters."""
    factory = hydra.utils.instantiate(config)
    named = list(named_parameters)
    options = fused_option(config, mixed_precision)
    if "named_parameters" in inspect.signature(factory).parameters:
        return factory(named_parameters=named, **options)
    return factory(params=[parameter for _, parameter in named], **options)


def fused_option(config: Any, mixed_precision: bool) -> dict[str, bool]:
    """``{"fused": True}`` when the optimizer class (the inner one of
    :func:`grouped_optimizer`) takes ``fused``, no level of ``config`` sets ``fused`` or
    ``foreach``, and training is not under mixed precision; else ``{}`` (torch's default)."""
    levels = [config]
    if str(config.get("_target_")) == f"{__name__}.{grouped_optimizer.__name__}":
        levels.append(config.get("optimizer") or {})
    if mixed_precision or any("fused" in level or "foreach" in level for level in levels):
        return {}
    target = hydra.utils.get_object(str(levels[-1].get("_target_")))
    takes_fused = inspect.isclass(target) and "fused" in inspect.signature(target).parameters
    return {"fused": True} if takes_fused else {}


INTERVALS = ("step", "epoch")


def build_scheduler(
    config: Mapping[str, Any],
    optimizer: Optimizer,
    steps: Callable[[], int],
    interval: str,
    monitor: str,
) -> dict[str, Any]:
    """Lightning's ``lr_scheduler`` entry: the ``_partial_`` scheduler ``config`` called with the
    optimizer (``total_steps: auto`` replaced by ``steps()``), stepped every ``interval``
    (``model.scheduler_interval``: ``step`` or ``epoch``); one that reads a metric reads
    ``monitor``. Each ``configs/model/scheduler`` file sets the interval it needs."""
    auto = {"total_steps": steps()} if config.get("total_steps") == "auto" else {}
    scheduler = hydra.utils.instantiate(config, **auto)(optimizer=optimizer)
    if interval not in INTERVALS:
        raise ConfigError(
            f"model.scheduler_interval={interval}: expected one of {', '.join(INTERVALS)}"
        )
    if isinstance(scheduler, ReduceLROnPlateau) and interval != "epoch":
        raise ConfigError(
            f"model.scheduler_interval={interval}: {type(scheduler).__name__} reads {monitor}, "
            "which validation logs once an epoch; step it every epoch "
            "(model.scheduler_interval=epoch, as model/scheduler=plateau sets)"
        )
    return {"scheduler": scheduler, "interval": interval, "frequency": 1, "monitor": monitor}


def total_steps(trainer: Any, resumed: int | None) -> int:
    """The run's optimizer steps for a schedule's ``total_steps: auto``. A resumed run must keep
    the number its schedule was built for (``resumed``: the checkpoint scheduler's)."""
    steps = trainer.estimated_stepping_batches
    if not math.isfinite(steps):
        raise ConfigError(
            f"model.scheduler.total_steps=auto needs a run of known length, but "
            f"trainer.max_epochs={trainer.max_epochs} and trainer.max_steps="
            f"{trainer.max_steps} set none: give trainer.max_epochs or "
            "trainer.max_steps, or a number for model.scheduler.total_steps"
        )
    steps = int(steps)
    if resumed is not None and resumed != steps:
        raise ConfigError(
            f"trainer.max_epochs={trainer.max_epochs}: this run has {steps} optimizer "
            f"steps, but the checkpoint's LR schedule was fixed by its first run at "
            f"{resumed} steps. Resume with the first run's trainer.max_epochs (and "
            "limit_train_batches, batch size), or start a new run (ckpt_path=null)"
        )
    return steps


def grouped_optimizer(
    named_parameters: Iterable[tuple[str, nn.Parameter]],
    optimizer: Callable[..., Optimizer],
    groups: Sequence[Mapping[str, Any]] = (),
    no_decay: Sequence[str] = (),
    **defaults: Any,
) -> Optimizer:
    """``optimizer(parameter_groups(...), **defaults)``: ``defaults`` (``lr``,
    ``weight_decay``) hold for every group that does not set its own."""
    return optimizer(parameter_groups(named_parameters, groups, no_decay), **defaults)


class LinearWarmupDecay(LRScheduler):
    """Linear warm-up from 0 to each group's rate over the first ``warmup`` fraction of
    ``total_steps``, then linear decay to 0 at ``total_steps`` (transformers'
    ``get_linear_schedule_with_warmup``): factor ``t / w`` for ``t < w``, then
    ``(T - t) / (T - w)``, with ``t`` the optimizer steps taken, ``w = round(warmup * T)``.

    Step it every optimizer step (``model.scheduler_interval=step``, which its config file
    sets); ``total_steps: auto`` takes the trainer's estimate. Its state is plain numbers
    (``weights_only`` checkpoints), and ``total_steps`` in it lets a resumed run check that its
    length has not changed.
    """

    def __init__(
        self, optimizer: Optimizer, total_steps: int, warmup: float = 0.1, last_epoch: int = -1
    ) -> None:
        check_total_steps(total_steps)
        if not 0.0 <= warmup < 1.0:
            raise ConfigError(f"model.scheduler.warmup={warmup}: expected a fraction in [0, 1)")
        self.total_steps = total_steps
        self.warmup_steps = round(warmup * total_steps)
        super().__init__(optimizer, last_epoch)

    def factor(self, step: int) -> float:
        """The multiplier of the base rates after ``step`` optimizer steps."""
        if step < self.warmup_steps:
            return step / self.warmup_steps
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup_steps))

    def get_lr(self) -> list[float]:
        factor = self.factor(self.last_epoch)
        return [base * factor for base in self.base_lrs]


class OneCycle(OneCycleLR):
    """torch's ``OneCycleLR`` (the same rates and momenta), for a run of any number of steps.

    torch divides by each phase's length in steps, and a phase can have none: the warm-up peaks
    at step ``pct_start * total_steps - 1``, step 0 when that product is 1 (5 steps at
    ``pct_start=0.2``, 10 at 0.1: a ``ZeroDivisionError``), and ``pct_start=1`` leaves the
    annealing none. A phase without steps is over where it starts: its end value holds there
    and the next phase starts from it, as its limit would.
    """

    def __init__(
        self, optimizer: Optimizer, total_steps: int, pct_start: float = 0.3, **options: Any
    ) -> None:
        check_total_steps(total_steps)
        fraction = isinstance(pct_start, int | float) and not isinstance(pct_start, bool)
        if not fraction or not 0.0 <= pct_start <= 1.0:
            raise ConfigError(
                f"model.scheduler.pct_start={pct_start}: expected a fraction in [0, 1]"
            )
        super().__init__(optimizer, total_steps=total_steps, pct_start=float(pct_start), **options)

    def get_lr(self) -> list[float]:
        self._schedule_phases = phases_with_steps(self._schedule_phases)
        return super().get_lr()


def phases_with_steps(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``OneCycleLR``'s phases (each ends at ``end_step``, starts where the one before ends, the
    first at 0) without those of zero length; a last one of zero length ends a step later, after
    the final optimizer step, so the schedule's last value is its end value."""
    kept, start = [], 0.0
    for phase in phases[:-1]:
        if phase["end_step"] != start:
            kept.append(phase)
        start = phase["end_step"]
    last = phases[-1]
    if last["end_step"] == start:
        last = {**last, "end_step": start + 1}
    return [*kept, last]


def check_total_steps(total_steps: Any) -> None:
    """Refuse a schedule length that is not a whole number of steps >= 1, naming the key."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ConfigError(f"model.scheduler.total_steps={total_steps}: expected an int >= 1")
