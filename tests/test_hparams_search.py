"""Hyperparameter search: the Optuna configs compose, a 3-trial search with one diverging trial
completes and writes its summary, and what a run returns to the sweeper."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra.types import RunMode
from omegaconf import OmegaConf

from seqtagger.errors import ConfigError, SweepConfigError
from seqtagger.training.sweep import in_search, optimized_value, run_trial, worst_value
from tests.helpers import (
    CONFIG_DIR,
    compose_train,
    run_hydra_main,
    run_module,
    tiny_ner_overrides,
)
from tests.search_helpers import check_search, tiny_search_overrides

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


def test_a_search_composes_with_the_slurm_launcher(tmp_path: Path) -> None:
    """The search page's SLURM command: the Optuna sweeper hands each trial to submitit."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='pip install ".[slurm]"')
    overrides = ["experiment=conll2003_bilstm", "hparams_search=bilstm_optuna"]
    overrides += ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.sweeper.n_jobs=8"]
    cfg = compose_train(overrides, tmp_path)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.n_jobs == 8
    assert cfg.optimized_metric == "val/f1_best"


def test_a_search_with_a_diverging_trial_completes_and_writes_its_summary(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Three trials of the real search config in this process (Hydra's basic launcher) on the
    tiny corpus, a few steps each; trial 1's loss turns NaN. It is logged with its parameters
    and scores -inf; the other two finish and the summary names the better of them. The study
    is kept in a SQLite file (Optuna 2's database storage: the sweeps extra pins SQLAlchemy 1)."""
    import optuna

    from seqtagger.train import main

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    argv = ["seqtagger-train", *tiny_search_overrides(tiny_ner_dir), f"paths.log_dir={tmp_path}"]
    argv += [f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=tiny"]
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 0, err[-3000:]
    check_search(tmp_path / "train" / "multiruns" / "search", trials=3)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert [trial.value for trial in study.trials][1] == float("-inf")
    assert len(study.trials) == 3


def continue_study(storage: str, tmp_path: Path, trials: int) -> list[dict[str, float]]:
    """Run ``trials`` more trials of the study ``tiny`` in ``storage`` as the Optuna sweeper
    does (the real search config's sampler, the study loaded if it exists); their parameters."""
    import hydra
    import optuna

    overrides = ["hparams_search=bilstm_optuna", f"hydra.sweeper.storage={storage}"]
    cfg = compose_train([*overrides, "hydra.sweeper.study_name=tiny"], tmp_path)
    sampler = hydra.utils.instantiate(cfg.hydra.sweeper.sampler)
    study = optuna.create_study(
        study_name="tiny", storage=storage, sampler=sampler, load_if_exists=True
    )
    drawn = []
    for _ in range(trials):
        trial = study.ask()
        drawn.append({"lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True)})
        study.tell(trial, 0.5)
    return drawn


def test_a_continued_study_draws_new_trials(tmp_path: Path) -> None:
    """Running a search again on the same stored study continues it with new parameters, not
    the first run's again (its sampler's seed counts the stored trials); a new study drawn with
    the same seed repeats the first run's, as a seeded search should."""
    import seqtagger.train  # noqa: F401  (registers the configs' resolvers)

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = continue_study(storage, tmp_path, trials=2)
    then = continue_study(storage, tmp_path, trials=2)
    assert len({trial["lr"] for trial in first + then}) == 4
    again = continue_study(f"sqlite:///{tmp_path / 'other.db'}", tmp_path, trials=2)
    assert again == first


@pytest.mark.slow
def test_running_a_stored_search_again_continues_it_with_new_trials(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``seqtagger-train ... hydra.sweeper.storage=sqlite:///... study_name=tiny`` twice, two
    trials each: the study holds four trials with four different sets of parameters."""
    import optuna

    from seqtagger.train import main

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    for run in ("first", "second"):
        argv = ["seqtagger-train", *tiny_search_overrides(tiny_ner_dir, trials=2)]
        argv += [f"paths.log_dir={tmp_path}", f"run_name={run}"]
        argv += [f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=tiny"]
        code, err = run_hydra_main(main, argv, monkeypatch, capsys)
        assert code == 0, err[-3000:]
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    assert len(trials) == 4
    assert len({tuple(sorted(trial.params.items())) for trial in trials}) == 4


@pytest.mark.slow
def test_a_search_runs_each_trial_as_a_submitit_job(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """The same search through the submitit launcher, each trial a job (local processes here;
    ``hydra/launcher=slurm`` on a cluster, ``tests/test_slurm.py``): a failed job would end the
    sweep, a trial that scores -inf does not."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='pip install ".[slurm]"')
    args = [*tiny_search_overrides(tiny_ner_dir, trials=2), "hydra.sweeper.n_jobs=2"]
    args += ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]
    out = run_module("seqtagger.train", args, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = tmp_path / "logs" / "train" / "multiruns" / "search"
    assert (sweep / ".submitit").is_dir()
    check_search(sweep, trials=2)


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
