"""Helpers of the hyperparameter-search tests (in process and under SLURM): a small Optuna search
on the tiny corpus with one diverging trial, and the checks of its results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from lightning import Callback, LightningModule, Trainer

from tests.helpers import tiny_ner_overrides


def tiny_search_overrides(tiny_dir: Path, trials: int = 3) -> list[str]:
    """A small Optuna search with the real ``hparams_search=bilstm_optuna`` on the tiny corpus:
    smaller ranges (command-line sweeps replace the config's), a few steps a trial, and trial 1
    diverging (:class:`PoisonTrial`). Runs go to ``logs/train/multiruns/search/``."""
    drop = ("data.batch_size", "model.encoder.hidden_size")
    tiny = [o for o in tiny_ner_overrides(tiny_dir) if not o.startswith(drop)]
    return [
        "hparams_search=bilstm_optuna",
        *tiny,
        "model.encoder.hidden_size=choice(16,32)",
        "data.batch_size=choice(16,32)",
        f"hydra.sweeper.n_trials={trials}",
        "+callbacks.poison._target_=tests.search_helpers.PoisonTrial",
        "run_name=search",
        *("trainer.accelerator=cpu", "+trainer.enable_progress_bar=false", "trainer.max_epochs=1"),
        *("trainer.limit_train_batches=4", "trainer.limit_val_batches=2"),
        *("trainer.limit_test_batches=1", "logger=csv", "extras.print_config=false"),
    ]


def check_search(sweep: Path, trials: int) -> dict[str, Any]:
    """Assert that a :func:`tiny_search_overrides` search in ``sweep`` completed: one folder per
    trial, trial 1 logged as failed with its parameters and scored -inf, the others finished,
    and ``optimization_results.yaml`` names one of them; return that summary."""
    import yaml

    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == [
        str(n) for n in range(trials)
    ]
    failed = (sweep / "1" / "train.log").read_text(encoding="utf-8")
    assert "trial 1 (model.optimizer.lr=" in failed and "data.batch_size=" in failed
    assert "failed, scored -inf so that the search goes on: the training loss is nan" in failed
    assert not (sweep / "1" / "metrics.json").exists()

    summary = yaml.safe_load((sweep / "optimization_results.yaml").read_text(encoding="utf-8"))
    searched = {"model.optimizer.lr", "model.head.dropout", "model.encoder.hidden_size"}
    searched |= {"data.batch_size"}
    assert summary["name"] == "optuna" and set(summary["best_params"]) == searched
    assert 0.0 <= summary["best_value"] <= 1.0
    best = {name: str(value) for name, value in summary["best_params"].items()}
    finished = []
    for trial in (str(n) for n in range(trials) if n != 1):
        assert (sweep / trial / "metrics.json").is_file()
        overrides = yaml.safe_load((sweep / trial / ".hydra" / "overrides.yaml").read_text())
        params = dict(item.split("=", 1) for item in overrides)
        finished.append(all(params[name] == best[name] for name in searched))
    assert any(finished), "the best parameters are those of a trial that finished"
    check_trial_table(sweep, trials, summary["best_value"])
    return summary


def check_trial_table(sweep: Path, trials: int, best_value: float) -> None:
    """Assert that the search's ``trials.txt`` has a row per trial, trial 1 failed, and names
    the best trial (Optuna's best value), its folder and checkpoint."""
    lines = (sweep / "trials.txt").read_text(encoding="utf-8").splitlines()
    rows = [line.split() for line in lines[2 : 2 + trials]]
    assert [row[0] for row in rows] == [str(n) for n in range(trials)] and rows[1][1] == "failed"
    best = next(line for line in lines if line.startswith("Best: trial "))
    number = best.split()[2]
    assert f"({best_value:.4f}), folder {sweep / number}" in best
    checkpoint = next(line for line in lines if line.startswith("Best trial's checkpoint: "))
    assert Path(checkpoint.split(": ", 1)[1]).parent == sweep / number / "checkpoints"
    assert any(line.startswith("Failed: trial 1: the training loss is nan") for line in lines)


class PoisonTrial(Callback):
    """Make one trial of a sweep diverge: in trial ``trial`` (Hydra's ``job.num``) the learning
    rate becomes inf, so the second step's loss is NaN and the run's fault guard stops it
    (``+callbacks.poison._target_=tests.search_helpers.PoisonTrial``)."""

    def __init__(self, trial: int = 1) -> None:
        self.trial = trial

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if HydraConfig.get().job.num == self.trial:
            for optimizer in trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = float("inf")
