"""Checkpoints written by older seqtaggers (``tests/checkpoints/format*/``, made by
``tests/checkpoints/write_checkpoints.py``) still load, evaluate and predict to the numbers that
seqtagger gave them: every format change comes with a migration step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def stored_checkpoint(folder: Path, name: str) -> Path:
    """The model's ``last.ckpt``; a model on a pretrained transformer needs the extra."""
    if name == "hf":
        pytest.importorskip("transformers", reason="the optional extra seqtagger[transformers]")
    return folder / name / "last.ckpt"


def test_every_stored_format_is_tested() -> None:
    assert [folder.name for folder in FORMATS][:1] == ["format1"]
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
        assert scores[key] == pytest.approx(value, abs=1e-9), key

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
    expected = expected_of(folder)[name]
    checkpoint = stored_checkpoint(folder, name)
    overrides = [override.format(corpus=CORPUS) for override in expected["overrides"]]
    tested = train(compose_train([*overrides, "train=false", f"ckpt_path={checkpoint}"], tmp_path))
    for key, value in expected["train_false"].items():
        assert tested[key] == pytest.approx(value, abs=1e-6), key
