"""The end of a hyperparameter search: a table of its trials (parameters, value, folder), the best
trial's folder and checkpoint, ties and failed trials, on the console and in ``trials.txt``."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from seqtagger.training.trials import TABLE_FILE, TrialTable, write_trial


def write_sweep(sweep: Path, values: list[float | None], direction: str = "maximize") -> None:
    """Trial folders ``0/``, ``1/``, ... as a search leaves them: ``trial.json`` (None: failed)
    and, for a finished trial, its best checkpoint."""
    for number, value in enumerate(values):
        hydra_cfg = OmegaConf.create(
            {
                "job": {"num": number},
                "overrides": {"task": [f"model.optimizer.lr=0.00{number + 1}", "data=files"]},
                "sweeper": {"direction": direction, "params": {"model.optimizer.lr": "x"}},
            }
        )
        folder = sweep / str(number)
        if value is None:
            write_trial(folder, hydra_cfg, float("-inf"), "the training loss is nan at step 3")
        else:
            write_trial(folder, hydra_cfg, value)
            (folder / "checkpoints").mkdir()
            (folder / "checkpoints" / "epoch_001.ckpt").touch()


def end_search(sweep: Path, direction: str = "maximize") -> str:
    """Run the callback as Hydra does when the sweep ends; the text of ``trials.txt``."""
    config = OmegaConf.create(
        {
            "optimized_metric": "val/f1_best",
            "hydra": {"sweep": {"dir": str(sweep)}, "sweeper": {"direction": direction}},
        }
    )
    TrialTable().on_multirun_end(config)
    return (sweep / TABLE_FILE).read_text(encoding="utf-8")


def test_a_search_ends_with_a_table_naming_the_best_trial_and_the_failed_ones(
    tmp_path: Path, capsys
) -> None:
    write_sweep(tmp_path, [0.8, None, 0.9])
    text = end_search(tmp_path)
    assert capsys.readouterr().out == text
    lines = text.splitlines()
    assert lines[1].split() == ["trial", "val/f1_best", "model.optimizer.lr", "folder"]
    assert [line.split() for line in lines[2:5]] == [
        ["0", "0.8000", "0.001", "0/"],
        ["1", "failed", "0.002", "1/"],
        ["2", "0.9000", "0.003", "2/"],
    ]
    assert lines[5] == f"Best: trial 2 (0.9000), folder {tmp_path / '2'}"
    assert lines[6] == f"Best trial's checkpoint: {tmp_path / '2' / 'checkpoints/epoch_001.ckpt'}"
    assert lines[7] == "Failed: trial 1: the training loss is nan at step 3"
    assert len(lines) == 8


def test_ties_are_said_and_a_minimised_value_wins_low(tmp_path: Path) -> None:
    write_sweep(tmp_path, [0.3, 0.5, 0.3], direction="minimize")
    lines = end_search(tmp_path, direction="minimize").splitlines()
    assert lines[5].startswith("Best: trial 0 (0.3000)")
    assert lines[7] == "Tie: trials 0, 2 score 0.3000; the first is named best"


def test_a_search_without_a_finished_trial_says_so(tmp_path: Path) -> None:
    write_sweep(tmp_path, [None])
    (tmp_path / "1").mkdir()  # a trial killed before it recorded anything
    lines = end_search(tmp_path).splitlines()
    assert lines[-3:] == [
        "Failed: trial 0: the training loss is nan at step 3",
        "Failed: trial 1: no result (trial.json missing: killed, or still running)",
        "No trial finished: there is no best trial",
    ]


def test_the_best_trial_folder_is_named_in_full_when_the_sweep_folder_is_relative(
    tmp_path: Path, monkeypatch
) -> None:
    """``paths.log_dir`` is ``./logs`` by default: the folders named can be copied from anywhere."""
    monkeypatch.chdir(tmp_path)
    write_sweep(tmp_path / "sweep", [0.5])
    lines = end_search(Path("sweep")).splitlines()
    assert lines[3] == f"Best: trial 0 (0.5000), folder {tmp_path / 'sweep' / '0'}"
