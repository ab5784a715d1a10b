"""A moved run folder resumes where it is now."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqtagger.checkpoint import load_checkpoint
from seqtagger.eval import evaluate
from tests.helpers import compose_config, run_hydra_main
from tests.test_checkpoint_formats import CORPUS, STORED, trained_overrides


def run_main(args: list[str], folder: Path, monkeypatch, capsys) -> tuple[int, str]:
    """``seqtagger-train ARGS`` in process on the CPU, into ``folder/run``: exit code, stderr."""
    from seqtagger.train import main

    argv = ["seqtagger-train", *args, f"hydra.run.dir={folder / 'run'}", "trainer.accelerator=cpu"]
    return run_hydra_main(main, argv, monkeypatch, capsys)


def best_scores(run: Path, tmp_path: Path) -> dict:
    """``seqtagger-eval`` of the run's best checkpoint (the only ``epoch_*.ckpt``) on the test
    file of the stored corpus."""
    (best,) = (run / "checkpoints").glob("epoch_*.ckpt")
    sets = [f"+sets.test={CORPUS / 'test.txt'}", "device=cpu"]
    return evaluate(compose_config("eval", [f"ckpt_path={best}", *sets], tmp_path / "eval"))["test"]


def test_a_moved_format_1_run_folder_resumes_and_tests_its_own_best_checkpoint(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """The stored run was written in /tmp/seqtagger-checkpoints-*/linear, gone now: resuming
    its last.ckpt elsewhere failed with a FileNotFoundError for the best checkpoint's old path
    (and scored that file when it was still there)."""
    run = tmp_path / "run"
    shutil.copytree(STORED / "format1" / "linear", run / "checkpoints")
    code, err = run_main(
        [*trained_overrides("linear"), "ckpt_path=auto"], tmp_path, monkeypatch, capsys
    )
    assert code == 0, err
    tested = json.loads((run / "metrics.json").read_text())
    assert tested["test/f1"] == pytest.approx(best_scores(run, tmp_path)["f1"], abs=1e-6)


def test_a_moved_run_folder_resumes_where_it_is_now(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``mv rr2 rr3``, then ``ckpt_path=auto`` in rr3: the checkpoints record no path of rr2,
    so the test scores rr3's best checkpoint even where rr2's files still exist."""
    args = [*trained_overrides("linear", without="trainer.max_epochs"), "trainer.max_epochs=2"]
    old, new = tmp_path / "rr2", tmp_path / "rr3"
    assert run_main(args, old, monkeypatch, capsys)[0] == 0
    shutil.copytree(old / "run", new / "run")
    for path in (old / "run" / "checkpoints").glob("*.ckpt"):  # if read, no test could pass
        path.write_text("not the checkpoint of rr3\n")

    code, err = run_main([*args, "ckpt_path=auto"], new, monkeypatch, capsys)
    assert code == 0, err
    tested = json.loads((new / "run" / "metrics.json").read_text())
    assert tested["test/f1"] == pytest.approx(best_scores(new / "run", tmp_path)["f1"], abs=1e-6)
    assert str(old) not in repr(load_checkpoint(new / "run" / "checkpoints" / "last.ckpt"))
