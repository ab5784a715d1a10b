"""A run folder holds one run: a new run in the folder of an earlier one is refused (unless
``overwrite=true``), a moved run folder resumes where it is now, and ``callbacks=none`` still
leaves a ``checkpoints/last.ckpt`` to resume from."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from seqtagger.checkpoint import load_checkpoint
from seqtagger.eval import evaluate
from tests.helpers import compose_config, run_hydra_main, tiny_ner_overrides
from tests.test_checkpoint_formats import CORPUS, STORED, trained_overrides

SHORT = ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]


def run_main(args: list[str], folder: Path, monkeypatch, capsys) -> tuple[int, str]:
    """``seqtagger-train ARGS`` in process on the CPU, into ``folder/run``: exit code, stderr."""
    from seqtagger.train import main

    argv = ["seqtagger-train", *args, f"hydra.run.dir={folder / 'run'}", "trainer.accelerator=cpu"]
    return run_hydra_main(main, argv, monkeypatch, capsys)


def short_run(tiny_ner_dir: Path, *extra: str) -> list[str]:
    return [*tiny_ner_overrides(tiny_ner_dir), *SHORT, "logger=csv", *extra]


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.ckpt"))}


def test_a_new_run_in_the_folder_of_an_earlier_one_is_refused_unless_overwritten(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The second run replaced last.ckpt and metrics.json and left the first run's best
    checkpoint beside its own."""
    run = tmp_path / "run"
    first = short_run(tiny_ner_dir, "trainer.max_epochs=2", "run_name=fixed")
    assert run_main(first, tmp_path, monkeypatch, capsys)[0] == 0
    checkpoints, metrics = files_in(run / "checkpoints"), (run / "metrics.json").read_text()

    again = short_run(tiny_ner_dir, "trainer.max_epochs=1", "run_name=fixed")
    code, err = run_main(again, tmp_path, monkeypatch, capsys)
    assert code == 2, err
    assert f"seqtagger-train: error: run_name=fixed: {run} already holds a run (" in err
    assert "checkpoints/last.ckpt" in err and "metrics.json" in err
    assert "resume it with ckpt_path=auto, choose another run_name, or replace it with" in err
    assert files_in(run / "checkpoints") == checkpoints
    assert (run / "metrics.json").read_text() == metrics

    started = time.time()
    code, err = run_main([*again, "overwrite=true"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    left = list((run / "checkpoints").glob("*.ckpt"))
    assert {path.name for path in left} >= {"last.ckpt"}
    assert all(path.stat().st_mtime >= started for path in left)  # none of the first run's
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 0


def test_a_sweep_run_again_under_its_name_is_refused(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Each trial of the second sweep replaced the same trial of the first one."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason='pip install -e ".[sweeps]"')
    from seqtagger.train import main
    from tests.search_helpers import tiny_search_overrides

    argv = ["seqtagger-train", *tiny_search_overrides(tiny_ner_dir, trials=1)]
    argv.append(f"paths.log_dir={tmp_path}")
    assert run_hydra_main(main, argv, monkeypatch, capsys)[0] == 0
    trial = tmp_path / "train" / "multiruns" / "search" / "0"
    metrics = (trial / "metrics.json").read_text()
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 2, err
    assert f"run_name=search: {trial} already holds a run" in err
    assert (trial / "metrics.json").read_text() == metrics


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


def test_callbacks_none_still_checkpoints_to_last_ckpt_and_resumes(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Lightning's default wrote tensorboard/checkpoints/epoch=0-step=2.ckpt: no last.ckpt for
    ``ckpt_path=auto``, and a name Hydra's grammar cannot take as ``ckpt_path``."""
    run = tmp_path / "run"
    kept = [o for o in tiny_ner_overrides(tiny_ner_dir) if not o.startswith("callbacks.")]
    args = [*kept, *SHORT, "callbacks=none"]  # the default logger: TensorBoard
    code, err = run_main([*args, "trainer.max_epochs=1"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert [path.relative_to(run) for path in run.rglob("*.ckpt")] == [
        Path("checkpoints/last.ckpt")
    ]
    resumed = [*args, "trainer.max_epochs=2", "ckpt_path=auto"]
    code, err = run_main(resumed, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"] == 1
