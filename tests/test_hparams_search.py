"""Hyperparameter search: the Optuna configs compose, a 3-trial search with one diverging trial
completes and writes its summary, and what a run returns to the sweeper (issue 14)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hydra.types import RunMode
from omegaconf import OmegaConf

from seqtagger.errors import ConfigError, SweepConfigError
from seqtagger.training.sweep import in_search, optimized_value, run_trial, worst_value
from tests.helpers import CONFIG_DIR, compose_train, run_hydra_main, tiny_ner_overrides

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='pip install -e ".[sweeps]"')

SEARCHES = sorted(path.stem for path in (CONFIG_DIR / "hparams_search").glob("*.yaml"))
SEARCHED = {"model.optimizer.lr", "model.head.dropout", "model.encoder.hidden_size"}
SEARCHED |= {"data.batch_size"}


@pytest.mark.parametrize("search", SEARCHES)
def test_search_configs_optimise_the_best_dev_headline(search: str, tmp_path: Path) -> None:
    """Each search config maximises the best dev value of the data's headline metric, over the
    learning rate, dropout, hidden size and batch size."""
    for data, headline in (("conll2003", "val/f1_best"), ("ud_ewt", "val/acc_best")):
        cfg = compose_train([f"hparams_search={search}", f"data={data}"], tmp_path)
        assert cfg.optimized_metric == headline
        sweeper = cfg.hydra.sweeper
        assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
        assert set(sweeper.params) == SEARCHED
        assert cfg.hydra.mode == RunMode.MULTIRUN
        assert cfg.model.embedding.dropout == cfg.model.head.dropout  # one dropout rate
    assert cfg.model.head._target_.endswith("CRFHead") == ("crf" in search)


def test_a_search_with_a_diverging_trial_completes_and_writes_its_summary(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Three trials of the real search config on the tiny corpus (smaller ranges, a few steps
    each); trial 1's loss turns NaN. It is logged with its parameters and scores -inf; the other
    two finish and the summary names the better of them."""
    from seqtagger.train import main

    tiny = [o for o in tiny_ner_overrides(tiny_ner_dir) if not o.startswith("data.batch_size")]
    tiny = [o for o in tiny if not o.startswith("model.encoder.hidden_size")]
    argv = [
        "seqtagger-train",
        "hparams_search=bilstm_optuna",
        *tiny,
        # a smaller search space: command-line sweeps replace the config's ranges
        "model.encoder.hidden_size=choice(16,32)",
        "data.batch_size=choice(16,32)",
        "hydra.sweeper.n_trials=3",
        "+callbacks.poison._target_=tests.helpers.PoisonTrial",  # trial 1: lr = inf
        f"paths.log_dir={tmp_path}",
        "run_name=search",
        *("trainer.accelerator=cpu", "+trainer.enable_progress_bar=false", "trainer.max_epochs=1"),
        *("trainer.limit_train_batches=4", "trainer.limit_val_batches=2"),
        "trainer.limit_test_batches=1",
        *("logger=csv", "extras.print_config=false"),
    ]
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 0, err[-3000:]
    sweep = tmp_path / "train" / "multiruns" / "search"
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2"]

    failed = (sweep / "1" / "train.log").read_text(encoding="utf-8")
    assert "trial 1 (model.optimizer.lr=" in failed and "data.batch_size=" in failed
    assert "failed, scored -inf so that the search goes on: the training loss is nan" in failed
    assert not (sweep / "1" / "metrics.json").exists()

    summary = yaml.safe_load((sweep / "optimization_results.yaml").read_text(encoding="utf-8"))
    assert summary["name"] == "optuna" and set(summary["best_params"]) == SEARCHED
    assert 0.0 <= summary["best_value"] <= 1.0
    trials = {}
    for trial in ("0", "2"):
        overrides = yaml.safe_load((sweep / trial / ".hydra" / "overrides.yaml").read_text())
        trials[trial] = {o.partition("=")[0]: o.partition("=")[2] for o in overrides}
        assert (sweep / trial / "metrics.json").is_file()
    best = {name: str(value) for name, value in summary["best_params"].items()}
    assert any(all(params[name] == best[name] for name in SEARCHED) for params in trials.values())


def test_the_optimized_metric_must_be_one_the_run_logged(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"optimized_metric": "val/acc_bset"})
    with pytest.raises(SweepConfigError) as error:
        optimized_value(cfg, {"val/acc": 0.5, "val/acc_best": 0.6})
    assert str(error.value) == (
        "optimized_metric=val/acc_bset: the run logged no metric of that name; it logged: "
        "val/acc, val/acc_best"
    )
    assert isinstance(error.value, ConfigError)  # exit code 2, one line
    assert optimized_value(OmegaConf.create({"optimized_metric": "val/acc"}), {"val/acc": 1}) == 1
    assert optimized_value(OmegaConf.create({"optimized_metric": None}), {}) is None


def test_an_optimized_metric_never_logged_is_refused_at_start_up(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Span F1 on data without spans: refused before reading the corpus, not after a run."""
    from seqtagger.train import main

    args = [*tiny_ner_overrides(tiny_ner_dir), "data.file_scheme=plain", "data.train_scheme=plain"]
    args += ["data.headline=acc", "optimized_metric=val/f1_best", "trainer.accelerator=cpu"]
    argv = ["seqtagger-train", *args, f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 2
    assert "error: optimized_metric=val/f1_best: data.train_scheme=plain has no spans" in err
    assert not list(tmp_path.rglob("*.ckpt"))


def test_a_failed_trial_scores_the_worst_value_and_a_sweep_error_ends_the_search(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hydra_cfg = OmegaConf.create(
        {
            "mode": RunMode.MULTIRUN,
            "job": {"num": 4},
            "overrides": {"task": ["data=files", "model.optimizer.lr=0.5"]},
            "sweeper": {"direction": "maximize", "params": {"model.optimizer.lr": "x"}},
        }
    )
    cfg = OmegaConf.create({"optimized_metric": "val/acc_best"})
    assert in_search(cfg, hydra_cfg) and not in_search(cfg, None)
    assert not in_search(OmegaConf.create({"optimized_metric": None}), hydra_cfg)

    def diverges(cfg):
        raise ConfigError("the training loss is nan at step 3")

    with caplog.at_level("ERROR", logger="seqtagger.training.sweep"):
        assert run_trial(cfg, diverges, hydra_cfg) == -math.inf
    assert "trial 4 (model.optimizer.lr=0.5) failed, scored -inf" in caplog.text
    assert "the training loss is nan at step 3" in caplog.text
    assert run_trial(cfg, lambda cfg: {"val/acc_best": 0.7}, hydra_cfg) == 0.7

    def misnamed(cfg):
        return optimized_value(OmegaConf.create({"optimized_metric": "val/nope"}), {})

    with pytest.raises(SweepConfigError):  # the same for every trial: ends the search
        run_trial(cfg, misnamed, hydra_cfg)


@pytest.mark.parametrize(
    ("direction", "worst"),
    [("maximize", -math.inf), ("minimize", math.inf), (["minimize", "maximize"], math.inf)],
)
def test_the_worst_value_follows_the_direction(direction, worst) -> None:
    assert worst_value(OmegaConf.create({"sweeper": {"direction": direction}})) == worst
    assert worst_value(None) == -math.inf
