"""``seqtagger``: one command for all of seqtagger's commands.

    seqtagger train experiment=ud_ewt_bilstm        # = seqtagger-train experiment=ud_ewt_bilstm
    seqtagger predict --ckpt best.ckpt notes.txt     # = seqtagger-predict --ckpt best.ckpt ...

``seqtagger NAME ARGS`` runs the entry point of ``seqtagger-NAME`` with ``ARGS``, unchanged:
Hydra's commands (train, eval) read ``sys.argv``, so it becomes ``[seqtagger-NAME, *ARGS]``
(the script beside this one, so that Lightning's DDP launcher, which starts each rank with the
same command line, starts ``seqtagger-NAME``), and overrides, ``--help`` and ``-m`` work as they
do there. A command's module is imported only when it runs; one that needs an optional extra
(serve, onnx) says which to install when it is missing.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from dataclasses import dataclass

PROG = "seqtagger"


@dataclass(frozen=True)
class Command:
    """A subcommand: the entry point it runs (``module:function``), what it does, and the
    optional extra its module needs (None: none)."""

    entry: str
    summary: str
    extra: str | None = None


COMMANDS: dict[str, Command] = {
    "train": Command("seqtagger.train:main", "train a tagger, then test its best checkpoint"),
    "eval": Command("seqtagger.eval:main", "score a checkpoint on held-out sets"),
    "predict": Command("seqtagger.predict:main", "tag text or corpus files with a checkpoint"),
    "serve": Command("seqtagger.serve.app:main", "serve a checkpoint over HTTP", extra="serve"),
    "strip": Command("seqtagger.strip:main", "write a checkpoint with only what inference needs"),
    "calibrate": Command(
        "seqtagger.calibration.cli:main", "fit a checkpoint's confidence temperatures on dev"
    ),
    "export": Command("seqtagger.export.cli:main", "export a checkpoint to ONNX", extra="onnx"),
}


def usage() -> str:
    """``--help``: the commands, one line each."""
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: {PROG} [--version] [--help] COMMAND [ARGS...]",
        "",
        "Token-level sequence tagging: `seqtagger COMMAND ARGS` runs `seqtagger-COMMAND ARGS`,",
        f"and `{PROG} COMMAND --help` shows the options of COMMAND.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()),
    ]
    return "\n".join(lines) + "\n"


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("seqtagger")
    except PackageNotFoundError:  # run from a checkout that was never installed
        from seqtagger import __version__

        return __version__


def script_path(name: str) -> str:
    """The console script ``name`` beside the running one (else on PATH, else the bare name):
    what a process that re-runs this command line starts."""
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), name)
    if os.path.isfile(beside):
        return beside
    return shutil.which(name) or name


def load(name: str, command: Command):
    """The entry point's function; a missing optional extra is ``SystemExit(2)`` with one
    message naming it."""
    module_name, _, function = command.entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        ours = missing == "seqtagger" or missing.startswith("seqtagger.")
        if command.extra is None or (ours and not module_name.startswith(missing)):
            raise  # a module of seqtagger's own that every install has: a bug
        what = f"module {missing}" if missing else "a module"
        sys.stderr.write(
            f"{PROG} {name}: needs the optional extra '{command.extra}' ({what} is not "
            f"installed): pip install 'seqtagger[{command.extra}]'\n"
        )
        raise SystemExit(2) from None
    return getattr(module, function)


def main(argv: list[str] | None = None) -> object:
    """Run ``seqtagger COMMAND ARGS``; returns what the command's entry point returns (its
    exit code), so the console script exits as ``seqtagger-COMMAND`` would."""
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        (sys.stdout if args else sys.stderr).write(usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(f"{PROG} {version()}")
        return 0
    name, rest = args[0], args[1:]
    command = COMMANDS.get(name)
    if command is None:
        sys.stderr.write(f"{PROG}: error: unknown command {name!r}\n\n{usage()}")
        return 2
    entry = load(name, command)
    saved = sys.argv
    sys.argv = [script_path(f"{PROG}-{name}"), *rest]
    try:
        return entry()
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(main())
