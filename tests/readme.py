"""The code of the README and of the documentation pages (``docs/*.md``), as data: their fenced
blocks, the shell commands in them, and the table that says how each command is exercised or why
it cannot be here.

``tests/test_readme.py`` (fast) runs the Python blocks and checks that every shell command is
covered by a row of :data:`SKIPS` or a program in :data:`PROGRAMS`;
``tests/test_readme_commands.py`` (slow) runs them. A command that matches neither fails both, so
a command added to the README or a page cannot go unexercised without someone writing down why.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS_DIR = REPO_ROOT / "docs"
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")

# Commands that cannot run in a test, and why; searched (re.search) in the command's text, first
# match wins. Keep the reason short: it is the skip message of the command's test.
SKIPS: dict[str, str] = {
    r"^pip install\b": "installs packages; CI's install step runs it",
    r"^(python -m )?pytest\b": "runs the test suite this test belongs to: .ci/run runs every tier",
    r"^sbatch\b": "submits a SLURM job: tests/test_slurm.py does, on a local cluster (-m slurm)",
    r"hydra/launcher=slurm": "submits SLURM jobs through submitit: tests/test_slurm.py (-m slurm)",
    r"^(sudo )?bash scripts/slurm/local_cluster\.sh": "sets up SLURM as root (CI step 3)",
    r"\btrainer=(gpu|ddp|multinode)\b|accelerator=(gpu|cuda)|device[= ]cuda|--device cpu cuda"
    r"|experiment=ud_ewt_gpu_fast": "needs GPUs "
    "(tests/test_ddp.py runs the DDP code path on CPU ranks)",
    r"\bdata=hub\b": "downloads from the Hugging Face hub; tests/test_readers_datasets.py and "
    "tests/test_datamodule.py read a local folder in the hub's layout",
    r"^tensorboard\b": "a server that runs until stopped: tests/test_tensorboard_server.py starts "
    "one and queries its HTTP API (-m slow)",
    r"^seqtagger-serve\b": "a server that runs until stopped: tests/test_serve.py starts one and "
    "calls its HTTP API",
    r"^curl\b": "calls a running seqtagger-serve: tests/test_serve.py sends these requests",
    r"^python -m benchmarks serve\b": "loads a server for minutes: tests/test_serve.py runs it "
    "against a test server",
    r"^python -m benchmarks export\b": "exports a trained checkpoint twice and times it for "
    "minutes: tests/test_export.py runs it on a tiny checkpoint",
    r"^python -m tools\.export_parity\b": "tags a trained run's whole test set three ways: "
    "tests/test_export_corpus.py runs it on a tiny trained run",
    r"tools\.tensorboard_screenshots\b": "needs Chromium (apt-get install chromium) and "
    "rewrites docs/tensorboard_*.png",
    r"^\.ci/run\b": "CI itself: installs packages and runs every test tier",
    r"^sphinx-build\b": "builds the documentation site: CI does, and tests/test_docs.py (-m slow)",
    r"\.venv-flair\b": "flair's own virtualenv (flair 0.15.1 pins its own dependencies): "
    "not installed in CI",
}

# Programs a runnable command may use, with what a test does to keep it small (see
# tests/test_readme_commands.py for the overrides themselves).
PROGRAMS: dict[str, str] = {
    "seqtagger-train": "a few batches of one epoch, outputs under a temporary paths.log_dir",
    "seqtagger-eval": "the checkpoint named is replaced by one trained in the test",
    "seqtagger-predict": "the checkpoint named is replaced by one trained in the test",
    "seqtagger-strip": "the checkpoint named is replaced by one trained in the test, -o written "
    "into a temporary folder",
    "seqtagger-export": "the checkpoint named is replaced by one trained in the test, -o written "
    "into a temporary folder",
    "seqtagger-calibrate": "the checkpoint named is replaced by one trained in the test (its run's "
    "dev set beside it)",
    "seqtagger": "its command (train, eval, predict, strip, calibrate, export) rewritten as that "
    "program's is",
    "python": "the modules of SCRIPT_ARGS, with arguments that make them quick",
    "printf": "as written",
    "echo": "as written",
    "cat": "as written",
}
# what `python -m ...` a command may run (a benchmark by its name, ``benchmarks crf``; a tool by
# its module, ``tools.count_corpora``): flags set to quick values (a flag's old values are
# replaced), then arguments appended ("{tmp}": a fresh temporary folder)
SCRIPT_ARGS: dict[str, tuple[dict[str, list[str]], list[str]]] = {
    "benchmarks crf": ({"--batches": ["2"], "--repeats": ["1"]}, []),
    "benchmarks loss": ({"--device": ["cpu"], "--classes": ["9"], "--reps": ["2"]}, []),
    "benchmarks data": ({}, []),
    "tools.count_corpora": ({}, []),
    "tools.format_examples": ({}, ["{tmp}"]),  # not over the committed examples
    "benchmarks train": (
        {"--corpus": ["synthetic"], "--synthetic-sentences": ["64"], "--settings": ["bilstm"]}
        | {"--batch-sizes": ["8"], "--batches": ["2"], "--warmup": ["1"], "--val-batches": ["1"]}
        | {"--repeats": ["1"], "--loss-reps": ["1"], "--out": ["{tmp}/b.json"]},
        [],
    ),
    "benchmarks scaling": (
        {"--scales": ["1"], "--max-batches": ["2"], "--val-batches": ["1"]}
        | {"--out": ["{tmp}/s.json"], "--workdir": ["{tmp}/corpora"]},
        [],
    ),
}
_OPERATORS = {"&&", ";", "||"}  # between commands; "|" joins stages of one command
_REDIRECTS = {">", ">>", "<"}


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language (the info string's first word) and first line."""

    language: str
    line: int  # line of the block's first code line in its file
    text: str
    source: str = "README.md"  # the file, relative to the checkout

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


@dataclass(frozen=True)
class ShellCommand:
    """One command of a shell block: a pipeline of stages, each an argument list."""

    line: int  # line the command starts on in its file
    stages: tuple[tuple[str, ...], ...]
    source: str = "README.md"  # the file, relative to the checkout

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"

    @property
    def text(self) -> str:
        """The command as a shell line (quoted where needed; redirections left bare)."""
        return " | ".join(" ".join(_quote(arg) for arg in stage) for stage in self.stages)

    @property
    def programs(self) -> list[str]:
        return [stage[0] for stage in self.stages]


def _quote(arg: str) -> str:
    return arg if arg in _REDIRECTS else shlex.quote(arg)


def fenced_blocks(markdown: str, source: str = "README.md") -> list[Block]:
    """Every fenced block (```lang or ~~~lang) of a Markdown text (the file ``source``)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, start = match["fence"], i + 1
        i = start
        while i < len(lines) and not lines[i].lstrip().startswith(fence):
            i += 1
        text = "\n".join(lines[start:i])
        blocks.append(Block(match["info"].lower(), start + 1, text, source))
        i += 1
    return blocks


def strip_comment(line: str) -> str:
    """``line`` without its shell comment: ``#`` at the start of a word, outside quotes."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def logical_lines(block: Block) -> list[tuple[int, str]]:
    """``(line, text)`` of each command line: comments dropped, ``\\`` continuations
    joined; in ``console`` blocks only the lines after a ``$`` prompt (the rest is output)."""
    result: list[tuple[int, str]] = []
    pending, first = "", 0
    for offset, raw in enumerate(block.text.splitlines()):
        line = raw
        if not pending and block.language == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        line = strip_comment(line).rstrip()
        if not pending:
            first = block.line + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text:
            result.append((first, text))
    return result


def split_commands(line: int, text: str, source: str = "README.md") -> list[ShellCommand]:
    """The commands of one logical line: split at ``&&``, ``||`` and ``;``, stages at ``|``."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    commands: list[ShellCommand] = []
    stages: list[tuple[str, ...]] = []
    stage: list[str] = []
    for token in [*lexer, ";"]:
        if token == "|" or token in _OPERATORS:
            if stage:
                stages.append(tuple(stage))
            stage = []
            if token in _OPERATORS and stages:
                commands.append(ShellCommand(line, tuple(stages), source))
                stages = []
        elif set(token) <= set(";&|<>") and token not in _REDIRECTS:
            raise ValueError(f"{source} line {line}: unsupported shell operator {token!r}: {text}")
        else:
            stage.append(token)
    return commands


def documents() -> list[Path]:
    """The README and the documentation pages: the files whose commands are exercised."""
    return [README, *sorted(DOCS_DIR.glob("*.md"))]


def readme_blocks(path: Path | None = None) -> list[Block]:
    """The fenced blocks of ``path``, or of every file of :func:`documents`."""
    blocks: list[Block] = []
    for file in [path] if path is not None else documents():
        source = file.relative_to(REPO_ROOT).as_posix()
        blocks += fenced_blocks(file.read_text(encoding="utf-8"), source)
    return blocks


def shell_commands(path: Path | None = None) -> list[ShellCommand]:
    """Every shell command of the bash/sh/shell/console blocks, in order."""
    commands: list[ShellCommand] = []
    for block in readme_blocks(path):
        if block.language in SHELL_LANGUAGES:
            for line, text in logical_lines(block):
                commands += split_commands(line, text, block.source)
    return commands


def python_blocks(path: Path | None = None) -> list[Block]:
    return [block for block in readme_blocks(path) if block.language in {"python", "py"}]


def script_key(stage: tuple[str, ...]) -> str | None:
    """What a ``python`` stage runs, as :data:`SCRIPT_ARGS` names it: ``benchmarks NAME`` for
    ``python -m benchmarks NAME``, the module for another ``python -m``; None for anything else."""
    if len(stage) < 3 or stage[1] != "-m":
        return None
    if stage[2] == "benchmarks":
        return " ".join(stage[2:4])
    return stage[2]


def skip_reason(command: ShellCommand) -> str | None:
    """Why ``command`` cannot run in a test (the first row of :data:`SKIPS` it matches)."""
    return next((why for pattern, why in SKIPS.items() if re.search(pattern, command.text)), None)


def unexercised(command: ShellCommand) -> str | None:
    """What keeps ``command`` from being either run or skipped with a reason; None when fine."""
    if skip_reason(command) is not None:
        return None
    unknown = [program for program in command.programs if program not in PROGRAMS]
    unknown += [
        " ".join(stage[:2])
        for stage in command.stages
        if stage[0] == "python" and script_key(stage) not in SCRIPT_ARGS
    ]
    if unknown:
        return (
            f"{command.where}: no runner for {unknown} and no skip reason: "
            f"{command.text}\n  add the program to tests/readme.py PROGRAMS (and a runner to "
            "tests/test_readme_commands.py), a module to SCRIPT_ARGS, or a row to SKIPS"
        )
    return None
