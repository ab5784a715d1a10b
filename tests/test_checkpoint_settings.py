"""A checkpoint's model keeps the settings it was trained with: ``train=false`` tests it with
them, and a resume, ``train=false`` or ``seqtagger-eval`` given another value is refused, naming
the key and both values (on the stored checkpoints of ``tests/checkpoints/``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from seqtagger.train import train
from tests.helpers import compose_train, run_hydra_main
from tests.test_checkpoint_formats import CORPUS, STORED, expected_of, trained_overrides
from tests.test_train import run_main

EXPECTED = expected_of(STORED / "format1")


def test_train_false_tests_with_the_checkpoints_settings(tmp_path: Path) -> None:
    """The model was trained with ``data.context=3``; a command line without it tested it with
    the config's 0 and scored another number than seqtagger-eval's."""
    checkpoint = STORED / "format1" / "context" / "last.ckpt"
    overrides = [*trained_overrides("context", without="data.context"), "train=false"]
    metrics = train(compose_train([*overrides, f"ckpt_path={checkpoint}"], tmp_path))
    for key, value in EXPECTED["context"]["train_false"].items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key
    run_config = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    assert run_config["data"]["context"] == 3


@pytest.mark.parametrize(
    ("name", "given", "message"),
    [
        ("context", "data.context=0", "data.context=3 in the checkpoint, 0 here"),
        ("linear", "data.max_word_length=4", "data.max_word_length=20 in the checkpoint, 4 here"),
        ("crf", "model.head.dropout=0.5", "model.head.dropout=0.33 in the checkpoint, 0.5 here"),
    ],
)
def test_train_false_refuses_a_setting_given_another_value(
    name: str, given: str, message: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    checkpoint = STORED / "format1" / name / "last.ckpt"
    key = given.partition("=")[0]
    args = [*trained_overrides(name, without=key), given, "train=false", f"ckpt_path={checkpoint}"]
    code, err = run_main(args, tmp_path, monkeypatch, capsys)
    assert code == 2, err
    assert f"seqtagger-train: error: ckpt_path={checkpoint}: the model was trained with " in err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("data.context=4", "data.context=0 in the checkpoint, 4 here"),
        ("model.head.dropout=0.5", "model.head.dropout=0.33 in the checkpoint, 0.5 here"),
        ("model.head.constrained=false", "model.head.constrained=True in the checkpoint, False"),
    ],
)
def test_a_resume_refuses_changed_settings_before_writing_anything(
    given: str, message: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """These keep every weight's shape: the resume went on, and its checkpoints recorded the
    new values."""
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    shutil.copy(STORED / "format1" / "crf" / "last.ckpt", last)
    before = last.read_bytes()
    args = [*trained_overrides("crf", without="trainer.max_epochs"), "trainer.max_epochs=13"]
    code, err = run_main([*args, given, "ckpt_path=auto"], tmp_path, monkeypatch, capsys)
    assert code == 2, err
    assert f"seqtagger-train: error: ckpt_path={last}: the model was trained with " in err
    assert message in err and "use the checkpoint's values" in err
    assert last.read_bytes() == before
    assert sorted(path.name for path in last.parent.iterdir()) == ["last.ckpt"]
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_eval_refuses_a_setting_given_another_value(tmp_path: Path, monkeypatch, capsys) -> None:
    """``seqtagger-eval`` scores with the checkpoint's settings; one on its command line was
    silently ignored."""
    from seqtagger import eval as eval_cli

    checkpoint = STORED / "format1" / "context" / "last.ckpt"
    argv = ["seqtagger-eval", f"ckpt_path={checkpoint}", f"+sets.test={CORPUS / 'test.txt'}"]
    argv += ["+data.context=0", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(eval_cli.main, argv, monkeypatch, capsys)
    assert code == 2, err
    assert f"seqtagger-eval: error: ckpt_path={checkpoint}: the model was trained with" in err
    assert "data.context=3 in the checkpoint, 0 here" in err
    assert "leave those keys out" in err
