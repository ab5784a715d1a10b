"""Hyperparameter search (``hparams_search=...``, Hydra's Optuna sweeper): the value a run returns
to the sweeper, and trials that fail without ending the search.

Every trial of a sweep is one call of ``hydra_main``: in this process with Hydra's basic
launcher, one SLURM job each with the submitit launcher. The value it returns is the run's
``optimized_metric`` (``val/acc_best``, ``val/f1_best``, as the run logged it); a name the run
did not log is a :class:`~seqtagger.errors.SweepConfigError` listing those it did.

A trial that raises would end the whole search: the Optuna sweeper re-raises a failed job unless
``max_failure_rate`` allows it, and the submitit launcher raises as soon as it collects a failed
job. So in a search (a multirun with an ``optimized_metric``) a trial's error is logged with the
trial's parameters and the trial returns the worst value instead, ``-inf`` when maximising
(``+inf`` when minimising): Optuna records it as a complete trial that lost, and its sampler
learns to avoid that region. NaN is not an option: Optuna 2.x's ``Study.tell`` rejects it, and
hydra-optuna-sweeper (1.2, 1.3) then fails to record the trial at all and ends the sweep.
A :class:`~seqtagger.errors.SweepConfigError` is a mistake in the search itself, the same for
every trial: it is not caught, and ends the search at once.

A study kept in a storage (``hydra.sweeper.storage=sqlite:///optuna.db``) can be continued by
running the search again with the same ``study_name``; a sampler seeded with ``seed`` alone
would then draw the stored trials' parameters again. Its seed is ``${study_seed:...}``
(:func:`study_seed`): ``seed`` plus the number of trials the study already holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seqtagger.errors import SweepConfigError, find_in_chain
from seqtagger.training.trials import write_trial
from seqtagger.utils.cli import describe, find_user_error
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

__all__ = [
    "in_search",
    "optimized_value",
    "register_search_resolvers",
    "run_trial",
    "study_seed",
    "worst_value",
]


def study_seed(seed: int | None, storage: str | None, study_name: str | None) -> int | None:
    """The sampler's seed: ``seed`` for a new study, ``seed`` plus the number of trials stored
    for ``study_name`` in ``storage`` for one continued (so new trials are drawn, the same ones
    for the same stored study)."""
    if seed is None or not storage or not study_name:
        return seed
    import optuna

    stored = optuna.storages.get_storage(storage)
    try:
        study_id = stored.get_study_id_from_name(study_name)
    except KeyError:  # a new study
        return seed
    return (seed + stored.get_n_trials(study_id)) % 2**32  # numpy takes seeds below 2**32


def register_search_resolvers() -> None:
    """``${study_seed:SEED,STORAGE,STUDY_NAME}`` for the search configs (idempotent)."""
    if not OmegaConf.has_resolver("study_seed"):
        OmegaConf.register_new_resolver("study_seed", study_seed)


def hydra_settings() -> DictConfig | None:
    """The running job's ``hydra`` config, or None outside a Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def in_search(cfg: DictConfig, hydra_cfg: DictConfig | None) -> bool:
    """A multirun whose runs return a value to optimise: a hyperparameter search."""
    from hydra.types import RunMode

    return (
        hydra_cfg is not None
        and hydra_cfg.get("mode") == RunMode.MULTIRUN
        and bool(cfg.get("optimized_metric"))
    )


def optimized_value(cfg: DictConfig, metrics: Mapping[str, float]) -> float | None:
    """The run's ``optimized_metric`` (None when there is none); a name the run did not log is
    a ``SweepConfigError`` naming it and listing the metrics the run did log."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        logged = ", ".join(sorted(metrics)) or "none"
        raise SweepConfigError(
            f"optimized_metric={name}: the run logged no metric of that name; it logged: {logged}"
        )
    return float(metrics[name])


def worst_value(hydra_cfg: DictConfig | None) -> float:
    """The value a failed trial returns: ``-inf`` for a maximising sweeper, ``+inf`` for a
    minimising one (``hydra.sweeper.direction``; the first of several objectives)."""
    sweeper = (hydra_cfg or {}).get("sweeper") or {}
    direction: Any = sweeper.get("direction") or "maximize"
    if isinstance(direction, Sequence) and not isinstance(direction, str):
        direction = direction[0] if len(direction) else "maximize"
    name = str(getattr(direction, "name", direction)).rsplit(".", 1)[-1]  # an Enum, or its name
    return math.inf if name == "minimize" else -math.inf


def trial_label(hydra_cfg: DictConfig | None) -> str:
    """``trial 2 (model.optimizer.lr=0.01 data.batch_size=16)``: the trial's number and its
    searched parameters (all its overrides when the sweeper names no ``params``)."""
    if hydra_cfg is None:
        return "trial"
    overrides = [str(item) for item in hydra_cfg.overrides.task]
    params = (hydra_cfg.get("sweeper") or {}).get("params") or {}
    searched = [item for item in overrides if item.partition("=")[0].lstrip("+~") in params]
    return f"trial {hydra_cfg.job.num} ({' '.join(searched or overrides)})"


def run_trial(
    cfg: DictConfig,
    train: Callable[[DictConfig], dict[str, float]],
    hydra_cfg: DictConfig | None,
) -> float:
    """Train one trial of a search and return its ``optimized_metric``; a failed trial is
    logged with its parameters and returns :func:`worst_value`, so the search goes on."""
    try:
        metrics = train(cfg)
    except Exception as error:
        if find_in_chain(error, lambda e: isinstance(e, SweepConfigError)):
            raise
        worst = worst_value(hydra_cfg)
        found = find_user_error(error)
        reason = describe(found) if found else f"{type(error).__name__}: {error}"
        log.error(
            f"{trial_label(hydra_cfg)} failed, scored {worst} so that the search goes on: {reason}",
            exc_info=found is None,  # a bug in seqtagger keeps its traceback, in the log
        )
        record_trial(cfg, hydra_cfg, worst, reason)
        return worst
    value = optimized_value(cfg, metrics)
    record_trial(cfg, hydra_cfg, value)
    return value


def record_trial(
    cfg: DictConfig, hydra_cfg: DictConfig | None, value: float, error: str | None = None
) -> None:
    """Write the trial's ``trial.json`` in its run folder (when it has one), for the search's
    summary (:mod:`seqtagger.training.trials`)."""
    output_dir = OmegaConf.select(cfg, "paths.output_dir", default=None)
    if output_dir:
        write_trial(Path(output_dir), hydra_cfg, value, error)
