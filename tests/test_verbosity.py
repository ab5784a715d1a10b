"""``-q/--quiet`` and ``-v/--verbose`` of ``seqtagger-predict`` and ``seqtagger-eval``: errors only,
or more than by default."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from tests.predict_cli import cli


@pytest.fixture(autouse=True)
def _progress_bars_back() -> None:
    """``--quiet`` turns the ``datasets`` progress bars off for the process: on again after."""
    yield
    datasets.enable_progress_bars()


def test_predict_quiet_leaves_stderr_empty_and_verbose_names_the_model(
    tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Anna Smith visited Paris .\n", encoding="utf-8")
    outputs = {}
    for flag in ("", "-q", "--quiet", "-v", "--verbose"):
        code, out, err = cli(capsys, "--ckpt", tiny_checkpoint, text, *filter(None, [flag]))
        assert code == 0, err
        outputs[flag] = out
        lines = err.splitlines()
        if flag in ("-q", "--quiet"):
            assert err == ""
        elif flag:
            assert lines[0] == (
                f"seqtagger-predict: {tiny_checkpoint} on cpu: tags in iob2 (trained in bioes), "
                "64 sentences a batch, window 4096"
            )
            assert lines[-1].startswith("seqtagger-predict: tagged 1 sentence (5 tokens)")
        else:
            assert [line.split(" (")[0] for line in lines] == [
                "seqtagger-predict: tagged 1 sentence"
            ]
    assert len(set(outputs.values())) == 1  # the predictions are the same


def test_predict_refuses_quiet_with_verbose(tiny_checkpoint: Path, capsys) -> None:
    code, _, err = cli(capsys, "--ckpt", tiny_checkpoint, "-q", "-v")
    assert code == 2 and "-v/--verbose: not allowed with argument -q/--quiet" in err


def test_eval_quiet_shows_no_progress_and_verbose_shows_the_config(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from seqtagger.eval import main

    argv = ["seqtagger-eval", f"ckpt_path={tiny_checkpoint}", "tensorboard=false"]
    argv.append(f"+sets.dev={tiny_ner_dir / 'dev.txt'}")
    shown = {}
    for number, flag in enumerate(("", "-q", "-v")):
        run_dir = tmp_path / str(number)
        monkeypatch.setattr("sys.argv", [*argv, f"hydra.run.dir={run_dir}", *filter(None, [flag])])
        main()
        shown[flag] = capsys.readouterr()
        assert "Scoring <dev>" in (run_dir / "eval.log").read_text(encoding="utf-8")
    assert "Scoring <dev>" in shown[""].out and "CONFIG" not in shown[""].out
    assert shown["-q"].out == "" and "Encoding" not in shown["-q"].err
    assert "Scoring <dev>" in shown["-v"].out and "CONFIG" in shown["-v"].out.splitlines()

    monkeypatch.setattr("sys.argv", [*argv, "-q", "--verbose"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "seqtagger-eval: error: -q and --verbose: give one of them"
    )
