"""``seqtagger-strip CKPT -o OUT`` (docs/models.md): a checkpoint without training state that
loads wherever the full one does for inference (seqtagger-eval, seqtagger-predict,
``Predictor.from_checkpoint``, ``seqtagger-train train=false``), a resume from it refused in one
message, and bad input refused before anything is written."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
import torch

from seqtagger.checkpoint import load_checkpoint
from seqtagger.eval import evaluate
from seqtagger.inference import Predictor
from seqtagger.strip import KEPT, main
from tests.helpers import compose_config, tiny_ner_overrides
from tests.predict_cli import cli as predict
from tests.test_train import run_main
from tests.test_train_checkpoints import (
    test_train_false_tests_the_given_checkpoint as train_false_scores,
)


@pytest.fixture(scope="module")
def stripped(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("stripped") / "tagger.ckpt"
    assert main([str(tiny_checkpoint), "-o", str(output)]) == 0
    return output


def test_a_stripped_checkpoint_holds_what_inference_needs(
    tiny_checkpoint: Path, stripped: Path
) -> None:
    full, small = load_checkpoint(tiny_checkpoint), load_checkpoint(stripped)
    assert {"optimizer_states", "loops", "callbacks"} <= set(full)
    assert set(small) == set(KEPT) & set(full)
    for key in ("hyper_parameters", "seqtagger", "epoch", "global_step"):
        assert small[key] == full[key], key
    assert small["state_dict"].keys() == full["state_dict"].keys()
    for name, weight in full["state_dict"].items():
        torch.testing.assert_close(small["state_dict"][name], weight)
    assert stripped.stat().st_size < tiny_checkpoint.stat().st_size


def test_a_stripped_checkpoint_predicts_and_scores_as_the_full_one(
    tiny_checkpoint: Path, stripped: Path, tiny_ner_dir: Path, tmp_path: Path, capsys
) -> None:
    test_file = tiny_ner_dir / "test.txt"
    both = {"full": tiny_checkpoint, "stripped": stripped}
    tagged = [predict(capsys, "--ckpt", ckpt, test_file, "--no-progress") for ckpt in both.values()]
    assert tagged[0][0] == tagged[1][0] == 0 and tagged[0][1] == tagged[1][1] != ""
    sentences = [["Anna", "Smith", "visited", "Oslo", "."], ["the", "EU", "met", "today"]]
    tags = [Predictor.from_checkpoint(ckpt).predict(sentences) for ckpt in both.values()]
    assert tags[0] == tags[1]
    scores = []
    for name, ckpt in both.items():
        overrides = [f"ckpt_path={ckpt}", f"+sets.test={test_file}", "device=cpu"]
        scores.append(evaluate(compose_config("eval", overrides, tmp_path / name))["test"])
    assert scores[0]["f1"] == scores[1]["f1"] and scores[0]["acc"] == scores[1]["acc"]


def test_train_false_tests_a_stripped_checkpoint(
    tiny_run: Path, stripped: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Scored as the full checkpoint is (``tests/test_train_checkpoints.py``)."""
    train_false_scores(tiny_run, stripped, tiny_ner_dir, tmp_path)


def test_training_does_not_resume_from_a_stripped_checkpoint(
    stripped: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Lightning's own error is a KeyError deep in the fit."""
    args = [*tiny_ner_overrides(tiny_ner_dir), f"ckpt_path={stripped}", "trainer.max_epochs=9"]
    code, err = run_main(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err, err[-2000:]
    assert f"seqtagger-train: error: ckpt_path={stripped}: holds the weights only" in err
    assert "resume from the run's checkpoints/last.ckpt, or test this one with train=false" in err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "CKPT={source}: no such file"),
        ("text", "CKPT={source}: not a loadable checkpoint"),
        ("in place", "-o {output}: is the checkpoint being stripped"),
        ("no folder", "-o {output}: folder {output_parent} does not exist"),
        ("a folder", "-o {output}: is a folder (expected a file name)"),
    ],
)
def test_bad_input_is_one_message_and_leaves_the_output_alone(
    case: str, message: str, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    source, output = tmp_path / "model.ckpt", tmp_path / "out.ckpt"
    source.write_bytes(tiny_checkpoint.read_bytes())
    output.write_text("an earlier file\n")
    if case == "missing":
        source = tmp_path / "nowhere.ckpt"
    elif case == "text":
        source.write_text("not a checkpoint\n")
    elif case == "in place":
        output = source
    elif case == "no folder":
        output = tmp_path / "nowhere" / "out.ckpt"
    elif case == "a folder":
        output = tmp_path
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    assert main([str(source), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    shown = message.format(source=source, output=output, output_parent=output.parent)
    assert err.startswith(f"seqtagger-strip: error: {shown}") and err.count("\n") == 1
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()} == before


def test_an_existing_output_is_replaced_and_a_link_to_it_kept(
    tiny_checkpoint: Path, stripped: Path, tmp_path: Path, capsys
) -> None:
    """Written beside the target and renamed into place; ``-o`` naming a link writes the file
    it names."""
    target, link = tmp_path / "tagger.ckpt", tmp_path / "current.ckpt"
    target.write_text("an earlier file\n")
    link.symlink_to(target.name)
    assert main([str(tiny_checkpoint), "-o", str(link)]) == 0
    assert link.is_symlink() and target.read_bytes() == stripped.read_bytes()
    err = capsys.readouterr().err
    assert err.startswith(f"seqtagger-strip: wrote {link}: ") and "% smaller)" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["current.ckpt", "tagger.ckpt"]


def test_a_fifo_is_written_through(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    """A FIFO (a device, ``/dev/stdout``) is written to, not replaced by a file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: dict[str, bytes] = {}
    reader = threading.Thread(target=lambda: received.update(data=fifo.read_bytes()))
    reader.start()
    assert main([str(tiny_checkpoint), "-o", str(fifo)]) == 0
    reader.join(timeout=60)
    checkpoint = torch.load(io.BytesIO(received["data"]), weights_only=True)
    assert set(checkpoint) == set(KEPT) and fifo.is_fifo()
    assert f"seqtagger-strip: wrote {fifo}: {len(received['data']) / 1e3:.0f} kB (from" in (
        capsys.readouterr().err
    )
