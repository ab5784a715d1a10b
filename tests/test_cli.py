"""``seqtagger COMMAND ARGS`` (docs/getting-started.md): each command runs its entry point with
``sys.argv`` as ``seqtagger-COMMAND ARGS`` would give it, so Hydra's and argparse's output is the
same; ``--version``, ``--help``, an unknown command, and a command whose optional extra is
missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import seqtagger
from seqtagger import cli
from tests.helpers import REPO_ROOT, checkout_env, run_module, tiny_ner_overrides

OLD_MAINS = {
    "train": "seqtagger.train",
    "eval": "seqtagger.eval",
    "predict": "seqtagger.predict",
    "strip": "seqtagger.strip",
}


def argv_seen() -> list[str]:
    """An entry point that returns the command line it was run with."""
    return list(sys.argv)


def run_old(name: str, args: list[str], monkeypatch, capsys) -> tuple[object, str, str]:
    """``seqtagger-NAME ARGS`` in process: what it returned or exited with, stdout, stderr."""
    import importlib

    main = importlib.import_module(OLD_MAINS[name]).main
    monkeypatch.setattr(sys, "argv", [f"seqtagger-{name}", *args])
    return outcome(main, capsys)


def outcome(function, capsys) -> tuple[object, str, str]:
    try:
        result = function()
    except SystemExit as exit_info:
        result = exit_info.code
    out, err = capsys.readouterr()
    return result, out, err


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("predict", ["--help"]),
        ("strip", ["--help"]),
        ("eval", ["--help"]),
        ("train", ["--help"]),
        ("train", ["--cfg", "job", "seed=7", "model=transformer"]),
    ],
)
def test_a_command_prints_what_its_own_entry_point_prints(
    name: str, args: list[str], monkeypatch, capsys
) -> None:
    old = run_old(name, args, monkeypatch, capsys)
    monkeypatch.setattr(sys, "argv", ["seqtagger", "ignored"])
    new = outcome(lambda: cli.main([name, *args]), capsys)
    assert new == old and old[1]
    assert sys.argv == ["seqtagger", "ignored"]  # put back after the command


def test_a_command_sees_its_own_script_as_argv0(monkeypatch, tmp_path: Path) -> None:
    """The script beside ``seqtagger`` when there is one: Lightning's DDP launcher starts every
    rank with ``[python, argv[0], *args]``."""
    monkeypatch.setitem(cli.COMMANDS, "probe", cli.Command("tests.test_cli:argv_seen", "probe"))
    seen = cli.main(["probe", "a=1", "--flag"])
    assert Path(seen[0]).name == "seqtagger-probe" and seen[1:] == ["a=1", "--flag"]
    (tmp_path / "seqtagger-probe").write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "seqtagger")])
    assert cli.main(["probe"]) == [str(tmp_path / "seqtagger-probe")]


def test_version_and_help(capsys) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"seqtagger {seqtagger.__version__}\n"
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    width = max(map(len, cli.COMMANDS))
    for name, command in cli.COMMANDS.items():
        assert f"\n  {name:<{width}}  {command.summary}\n" in out
    assert list(cli.COMMANDS) == [
        *("train", "eval", "predict", "serve", "strip", "calibrate", "export")
    ]


@pytest.mark.parametrize("args", [["nope", "x=1"], []])
def test_an_unknown_or_missing_command_lists_the_commands(args: list[str], capsys) -> None:
    assert cli.main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and "\n  predict    tag text or corpus files with a checkpoint\n" in err
    assert err.startswith("seqtagger: error: unknown command 'nope'\n" if args else "usage: ")


def test_a_command_without_its_extra_names_the_extra(monkeypatch, capsys) -> None:
    """A missing web stack (or a module this installation lacks) is one message; a module of
    seqtagger's own that fails to import inside it is a bug and keeps its traceback."""
    missing = {"name": "fastapi"}

    def import_module(name: str):
        raise ModuleNotFoundError(f"No module named {missing['name']!r}", name=missing["name"])

    monkeypatch.setattr(cli.importlib, "import_module", import_module)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "model.ckpt"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "seqtagger serve: needs the optional extra 'serve' (module fastapi is not installed): "
        "pip install 'seqtagger[serve]'\n"
    )
    missing["name"] = "seqtagger.inference.gone"
    with pytest.raises(ModuleNotFoundError):
        cli.main(["export", "model.ckpt"])


def test_the_exit_code_is_the_commands(tmp_path: Path) -> None:
    """Through ``sys.exit(main())``, as the console script runs it."""
    result = run_module("seqtagger.cli", ["strip", "missing.ckpt", "-o", "out.ckpt"], tmp_path)
    assert result.returncode == 2
    assert result.stderr == "seqtagger-strip: error: CKPT=missing.ckpt: no such file\n"
    result = run_module("seqtagger.cli", ["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout == f"seqtagger {seqtagger.__version__}\n"


@pytest.mark.slow
def test_ddp_training_through_the_seqtagger_script(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """``seqtagger train trainer=ddp_sim``: the launcher starts the second rank with the
    command line of the first, which is seqtagger-train's."""
    script = Path(sys.executable).parent / "seqtagger"
    if not script.is_file():
        pytest.skip("the seqtagger script is not installed beside python (pip install -e .)")
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer=ddp_sim", "trainer.max_epochs=1"]
    args += [f"hydra.run.dir={tmp_path / 'run'}", "logger=csv"]
    env = {**checkout_env(), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(script), "train", *args],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert os.path.islink(tmp_path / "run" / "checkpoints" / "best.ckpt")
