"""``seqtagger.api``: training and evaluation in one call each, with the command line's
overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqtagger import api
from seqtagger.errors import ConfigError
from tests.helpers import tiny_ner_overrides


def test_train_returns_its_metrics_run_folder_and_best_checkpoint_and_evaluate_scores_it(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1"]
    overrides += ["trainer.accelerator=cpu", f"paths.log_dir={tmp_path}", "run_name=first"]
    result = api.train(overrides=overrides)
    assert result.run_dir == tmp_path / "train" / "runs" / "first"
    written = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert result.test_metrics == written and 0.0 <= result.metrics["test/f1"] <= 1.0
    assert result.best_checkpoint is not None
    assert result.best_checkpoint.parent == result.run_dir / "checkpoints"
    assert result.best_checkpoint.name.startswith("epoch_")

    scores = api.evaluate(
        result.best_checkpoint,
        sets={"dev": tiny_ner_dir / "dev.txt"},
        overrides=[f"paths.log_dir={tmp_path}", "run_name=scored", "tensorboard=false"],
    )
    assert scores.run_dir == tmp_path / "eval" / "runs" / "scored"
    assert set(scores.metrics) == {"dev"} and 0.0 <= scores.metrics["dev"]["f1"] <= 1.0
    assert (scores.run_dir / "metrics.json").is_file()


def test_a_search_and_an_unknown_choice_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hyperparameter search\) runs from the command line"):
        api.train(overrides=["hydra.mode=MULTIRUN", f"paths.log_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"model=nope: there is no config nope\.yaml"):
        api.train(overrides=["model=nope"])
    assert not list(tmp_path.iterdir())
