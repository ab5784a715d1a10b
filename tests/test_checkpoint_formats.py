"""Checkpoints written by older seqtaggers (``tests/checkpoints/format*/``, made by
``tests/checkpoints/write_checkpoints.py``) still load, evaluate and predict to the numbers that
seqtagger gave them: every format change comes with a migration step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from seqtagger.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_KEY,
    MIGRATIONS,
    load_checkpoint,
    migrate,
)
from seqtagger.errors import CheckpointError
from seqtagger.eval import evaluate
from seqtagger.inference import Predictor
from seqtagger.train import train
from tests.documents import read_documents
from tests.helpers import compose_config, compose_train

STORED = Path(__file__).resolve().parent / "checkpoints"
CORPUS = STORED / "corpus"
FORMATS = sorted(path for path in STORED.glob("format*") if path.is_dir())


def expected_of(folder: Path) -> dict:
    return json.loads((folder / "expected.json").read_text(encoding="utf-8"))


CASES = [(folder, name) for folder in FORMATS for name in expected_of(folder)]
IDS = [f"{folder.name}-{name}" for folder, name in CASES]


def trained_overrides(name: str, without: str = "", folder: Path = STORED / "format1") -> list[str]:
    """The overrides the stored model ``name`` was trained with, less those starting
    ``without``."""
    overrides = [
        override.format(corpus=CORPUS) for override in expected_of(folder)[name]["overrides"]
    ]
    return [override for override in overrides if not (without and override.startswith(without))]


def stored_checkpoint(folder: Path, name: str) -> Path:
    """The model's ``last.ckpt``; a model on a pretrained transformer needs the extra."""
    if name == "hf":
        pytest.importorskip("transformers", reason="the optional extra seqtagger[transformers]")
    return folder / name / "last.ckpt"


def test_every_stored_format_is_tested() -> None:
    assert [folder.name for folder in FORMATS] == [
        f"format{n}" for n in range(1, CHECKPOINT_FORMAT)
    ]
    assert all(len(expected_of(folder)) >= 6 for folder in FORMATS)


@pytest.mark.parametrize(("folder", "name"), CASES, ids=IDS)
def test_an_older_checkpoint_evaluates_and_predicts_as_it_did(
    folder: Path, name: str, tmp_path: Path
) -> None:
    expected = expected_of(folder)[name]
    checkpoint = stored_checkpoint(folder, name)
    test_file = CORPUS / "test.txt"
    cfg = compose_config(
        "eval", [f"ckpt_path={checkpoint}", "device=cpu", f"+sets.test={test_file}"], tmp_path
    )
    scores = evaluate(cfg)["test"]
    for key, value in expected["eval"].items():
        # eval scores with training's own metrics (float32 counts): equal to 1e-6
        assert scores[key] == pytest.approx(value, abs=1e-6), key

    sentences, documents = read_documents(test_file)
    predictor = Predictor.from_checkpoint(checkpoint, device="cpu")
    assert predictor.predict(sentences, documents) == expected["predictions"]


@pytest.mark.parametrize(
    ("folder", "name"),
    [(folder, name) for folder, name in CASES if expected_of(folder)[name]["train_false"]],
    ids=[f"{f.name}-{n}" for f, n in CASES if expected_of(f)[n]["train_false"]],
)
def test_an_older_checkpoint_tests_as_it_did_with_train_false(
    folder: Path, name: str, tmp_path: Path
) -> None:
    checkpoint = stored_checkpoint(folder, name)
    overrides = [*trained_overrides(name, folder=folder), "train=false", f"ckpt_path={checkpoint}"]
    tested = train(compose_train(overrides, tmp_path))
    for key, value in expected_of(folder)[name]["train_false"].items():
        assert tested[key] == pytest.approx(value, abs=1e-6), key


def test_a_format_1_checkpoint_loads_in_this_format_without_run_folder_paths() -> None:
    """Format 1 kept the absolute paths of the run folder in the checkpoint callbacks' states
    (``/tmp/seqtagger-checkpoints-.../linear/checkpoints/epoch_010.ckpt``); format 2 keeps them
    relative to their folder, so a moved run folder resumes; format 3 holds the one label map
    as the task ``tags``; format 4 a calibration record, none here."""
    stored = STORED / "format1" / "linear" / "last.ckpt"
    assert torch.load(stored, weights_only=True)[CHECKPOINT_KEY]["format"] == 1
    checkpoint = load_checkpoint(stored)
    assert checkpoint[CHECKPOINT_KEY]["format"] == CHECKPOINT_FORMAT == 4
    assert checkpoint[CHECKPOINT_KEY]["calibration"] is None
    (task,) = checkpoint[CHECKPOINT_KEY]["tasks"]
    assert (task["name"], task["file_scheme"], task["train_scheme"]) == ("tags", "iob2", "bioes")
    assert "labels" not in checkpoint[CHECKPOINT_KEY]["vocabs"]
    assert any(key.startswith("tagger.heads.tags.") for key in checkpoint["state_dict"])
    assert not any(key.startswith("tagger.head.") for key in checkpoint["state_dict"])
    states = [state for state in checkpoint["callbacks"].values() if "best_model_path" in state]
    assert len(states) == 2 and all("dirpath" not in state for state in states)
    best = next(state for state in states if state["monitor"] == "val/f1")
    assert best["best_model_path"] == best["kth_best_model_path"] == "epoch_010.ckpt"
    assert list(best["best_k_models"]) == ["epoch_010.ckpt"]
    assert "/tmp/" not in repr(checkpoint["callbacks"])


def test_every_older_format_has_one_migration_step() -> None:
    assert sorted(MIGRATIONS) == list(range(1, CHECKPOINT_FORMAT))


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (
            CHECKPOINT_FORMAT + 1,
            f"checkpoint format {CHECKPOINT_FORMAT + 1}, but this seqtagger reads formats up to "
            f"{CHECKPOINT_FORMAT}: it was written by a newer seqtagger",
        ),
        (0, "checkpoint format 0 was never written"),
        ("2", "checkpoint format '2' was never written"),
    ],
)
def test_a_format_this_seqtagger_does_not_know_is_refused(found: object, message: str) -> None:
    checkpoint = {CHECKPOINT_KEY: {"format": found}}
    with pytest.raises(CheckpointError, match=re.escape(f"x.ckpt: {message}")):
        migrate(checkpoint, "x.ckpt: ")
