"""Train and evaluate from Python, with the command line's overrides and without Hydra's plumbing.

    from seqtagger import api

    result = api.train(overrides=["experiment=ud_ewt_bilstm", "seed=1"])
    result.metrics["test/acc"], result.run_dir, result.best_checkpoint
    scores = api.evaluate(result.best_checkpoint, sets={"dev": "dev.conllu"})

Each call composes ``configs/train.yaml`` (``eval.yaml``) as ``seqtagger-train``
(``seqtagger-eval``) does with the same overrides, and runs in a run folder of its own under
``paths.log_dir``. Mistakes raise the project's errors (:mod:`seqtagger.errors`) instead of
ending the process. A search (``hparams_search=...``) is a multirun: start it with
``seqtagger-train``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from seqtagger.errors import ConfigError
from seqtagger.training.summary import RunResult

__all__ = ["EvalResult", "RunResult", "evaluate", "train"]


@dataclass(frozen=True)
class EvalResult:
    """Scores per held-out set (``{set: metrics}``) and the folder holding their reports."""

    metrics: dict[str, dict[str, Any]]
    run_dir: Path


def train(overrides: Sequence[str] = (), config_dir: str | Path | None = None) -> RunResult:
    """Train (and test) as ``seqtagger-train OVERRIDES`` does; return the metrics, run folder
    and best checkpoint."""
    from seqtagger.train import run

    with composed("train", overrides, config_dir) as cfg:
        return run(cfg)


def evaluate(
    ckpt_path: str | Path,
    sets: Mapping[str, str | Path] | None = None,
    overrides: Sequence[str] = (),
    config_dir: str | Path | None = None,
) -> EvalResult:
    """Score a checkpoint on held-out files (``{name: path}``; none: the training run's test
    split) as ``seqtagger-eval ckpt_path=... +sets.NAME=PATH`` does."""
    from seqtagger.eval import evaluate as evaluate_sets

    named = [f"+sets.{name}={path}" for name, path in (sets or {}).items()]
    with composed("eval", [f"ckpt_path={ckpt_path}", *named, *overrides], config_dir) as cfg:
        return EvalResult(evaluate_sets(cfg), Path(cfg.paths.output_dir))


@contextmanager
def composed(
    config_name: str, overrides: Sequence[str], config_dir: str | Path | None
) -> Iterator[DictConfig]:
    """The config ``config_name`` composed with ``overrides``, its run folder created and set as
    Hydra's output folder (what ``paths.output_dir`` resolves to) while the run lasts."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from seqtagger.train import CONFIG_DIR  # registers the resolvers the configs use
    from seqtagger.utils.cli import check_config_choices
    from seqtagger.utils.config import apply_extras

    folder = str(Path(config_dir or CONFIG_DIR).resolve())
    check_config_choices(list(overrides), folder)
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=folder):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    if cfg.hydra.mode == RunMode.MULTIRUN:
        raise ConfigError(
            f"{' '.join(overrides)}: a multirun (a hyperparameter search) runs from the command "
            f"line: seqtagger-{config_name} {' '.join(overrides)}"
        )
    run_dir = Path(str(cfg.hydra.run.dir)).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    try:
        apply_extras(cfg)
        yield cfg
    finally:
        HydraConfig.instance().cfg = None
