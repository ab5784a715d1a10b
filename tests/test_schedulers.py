"""Learning-rate schedules: the one-cycle schedule for any number of steps, and each
``model/scheduler`` choice stepped as it needs (its interval and monitor) on every model recipe."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch.optim.lr_scheduler import OneCycleLR

from seqtagger.errors import ConfigError
from seqtagger.train import train
from seqtagger.training.optim import LinearWarmupDecay, OneCycle
from tests.helpers import compose_train, tiny_hf_overrides, tiny_ner_overrides

MAX_LR = 0.01


def one_cycle_rates(schedule: type, total_steps: int, **options: object) -> list[float]:
    """The learning rate of each of ``total_steps`` optimizer steps under ``schedule``."""
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    scheduler = schedule(optimizer, max_lr=MAX_LR, total_steps=total_steps, **options)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("pct_start", [0.1, 0.2, 0.25, 0.3, 0.5, 2 / 3, 1.0])
def test_one_cycle_runs_any_number_of_steps(pct_start: float, three_phase: bool) -> None:
    """Every run length from 1 to 40 steps: rates within [min, max], and torch's own rates
    wherever torch's OneCycleLR runs (it divides by zero when a phase has no steps)."""
    options = {"pct_start": pct_start, "three_phase": three_phase}
    for steps in range(1, 41):
        rates = one_cycle_rates(OneCycle, steps, **options)
        assert all(MAX_LR / 25 / 1e4 * 0.999 <= rate <= MAX_LR for rate in rates), (steps, rates)
        try:
            expected = one_cycle_rates(OneCycleLR, steps, **options)
        except ZeroDivisionError:
            continue
        assert rates == pytest.approx(expected, rel=1e-12), steps


@pytest.mark.parametrize("warmup", [0.0, 0.1, 0.2, 0.5, 0.9])
def test_linear_warmup_runs_any_number_of_steps(warmup: float) -> None:
    """The other length-bound schedule: every run length from 1 to 40 steps, rates in [0, lr]."""
    for steps in range(1, 41):
        optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=MAX_LR)
        scheduler = LinearWarmupDecay(optimizer, total_steps=steps, warmup=warmup)
        for _ in range(steps):
            assert 0.0 <= optimizer.param_groups[0]["lr"] <= MAX_LR
            optimizer.step()
            scheduler.step()


def test_a_warm_up_of_one_step_peaks_at_the_first_step() -> None:
    """5 steps at pct_start 0.2 (torch: ZeroDivisionError): the warm-up ends at step 0, so the
    run starts at max_lr and anneals, as 4 steps (warm-up ended before step 0) do."""
    with pytest.raises(ZeroDivisionError):
        one_cycle_rates(OneCycleLR, 5, pct_start=0.2)
    rates = one_cycle_rates(OneCycle, 5, pct_start=0.2)
    assert rates[0] == MAX_LR and rates == sorted(rates, reverse=True)
    assert rates[-1] < MAX_LR / 10


@pytest.mark.parametrize(
    ("options", "key"),
    [({"total_steps": 0}, "total_steps=0"), ({"pct_start": 1.5}, "pct_start=1.5")],
)
def test_one_cycle_refuses_a_bad_length_or_fraction_naming_the_key(options, key) -> None:
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ConfigError, match=rf"model\.scheduler\.{key}: expected"):
        OneCycle(optimizer, **{"max_lr": MAX_LR, "total_steps": 5, **options})


def learning_rates(run_dir: Path) -> list[float]:
    """The run's learning rate at each optimizer step, from its CSV log (the first ``lr-*``
    column by name: the only one, or a grouped optimizer's ``default`` group)."""
    (metrics,) = run_dir.rglob("metrics.csv")
    with metrics.open(encoding="utf-8") as lines:
        rows = list(csv.DictReader(lines))
    column = min(name for name in rows[0] if name.startswith("lr-"))
    return [float(row[column]) for row in rows if row[column]]


def train_tiny(overrides: list[str], run_dir: Path) -> list[float]:
    """Train on the tiny corpus, the learning rate logged every step; the rates."""
    every_step = ["logger=csv", "callbacks.lr_monitor.logging_interval=step"]
    every_step += ["trainer.log_every_n_steps=1", "trainer.limit_val_batches=1", "test=false"]
    train(compose_train([*overrides, *every_step], run_dir))
    return learning_rates(run_dir)


def test_a_one_cycle_recipe_trains_five_batches(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """A quick 5-batch try of a one-cycle recipe at pct_start 0.2: exactly one warm-up step."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir, "transformer"), "trainer.max_epochs=1"]
    overrides += ["trainer.limit_train_batches=5", "model.scheduler.pct_start=0.2"]
    rates = train_tiny(overrides, tmp_path)
    assert len(rates) == 5 and rates[0] == pytest.approx(0.001)  # the transformer's max_lr


def test_one_cycle_on_the_bilstm_steps_every_optimizer_step(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """``model/scheduler=one_cycle`` on the BiLSTM recipe (whose plateau schedule steps once an
    epoch) warms up to max_lr and anneals over the run's 16 steps."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model/scheduler=one_cycle"]
    overrides += [f"model.scheduler.max_lr={MAX_LR}", "trainer.max_epochs=4"]
    overrides += ["trainer.limit_train_batches=4", "callbacks.early_stopping=null"]
    rates = train_tiny(overrides, tmp_path)
    assert len(rates) == 16 and len(set(rates[:4])) == 4  # a new rate every step
    assert max(rates) == pytest.approx(MAX_LR, rel=0.01) and rates[-1] < MAX_LR / 10


@pytest.mark.parametrize("model", ["transformer", "hf"])
def test_the_plateau_schedule_steps_once_an_epoch_on_any_recipe(
    model: str, tiny_ner_dir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``model/scheduler=plateau`` on the step-scheduled recipes: stepped after validation, on
    the dev headline metric (stepping it every batch read val/f1 before validation logged it)."""
    if model == "hf":
        overrides = tiny_hf_overrides(tiny_ner_dir, request.getfixturevalue("tiny_bert"))
        overrides.append("model.optimizer.groups.0.lr=1e-6")  # the pretrained weights' rate
    else:
        overrides = tiny_ner_overrides(tiny_ner_dir, model)
    overrides = [*overrides, "model/scheduler=plateau", "model.scheduler.patience=0"]
    overrides += ["model.scheduler.factor=0.5", "trainer.max_epochs=3"]
    overrides += ["trainer.limit_train_batches=2", "callbacks.early_stopping=null"]
    overrides += ["model.optimizer.lr=1e-6"]  # dev F1 stalls: the rate halves after epoch 2
    rates = train_tiny(overrides, tmp_path)
    assert rates == pytest.approx([1e-6] * 4 + [0.5e-6] * 2, rel=1e-6)


@pytest.mark.parametrize("model", ["bilstm", "transformer", "hf"])
@pytest.mark.parametrize(
    ("scheduler", "interval"),
    [("plateau", "epoch"), ("one_cycle", "step"), ("linear_warmup", "step")],
)
def test_each_scheduler_config_carries_its_interval_and_monitor(
    model: str, scheduler: str, interval: str, tmp_path: Path
) -> None:
    overrides = [f"model={model}", f"model/scheduler={scheduler}", "data=conll2003"]
    cfg = compose_train(overrides, tmp_path)
    assert cfg.model.scheduler_interval == interval
    assert cfg.model.scheduler_monitor == ("val/f1" if scheduler == "plateau" else None)


def test_a_plateau_schedule_stepped_every_step_is_one_message(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model.scheduler_interval=step"]
    with pytest.raises(ConfigError, match=r"model\.scheduler_interval=step: ReduceLROnPlateau"):
        train(compose_train([*overrides, "trainer.max_epochs=1"], tmp_path))
