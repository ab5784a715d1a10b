"""The Python blocks of the README and the documentation pages run as written (with a checkpoint
trained here in place of the one they name), and every shell command in them is either run by
``tests/test_readme_commands.py`` (slow tier) or listed with the reason it cannot be: checked here,
in the fast tier, so a new command without either fails at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.readme import python_blocks, shell_commands, unexercised

_CKPT_LITERAL = re.compile(r"""(["'])[^"'\n]*\.ckpt\1""")


def test_every_readme_shell_command_is_run_or_skipped_with_a_reason() -> None:
    commands = shell_commands()
    assert commands, "no shell commands found in README.md and docs/"
    problems = [problem for command in commands if (problem := unexercised(command))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("block", python_blocks(), ids=lambda block: block.where)
def test_readme_python_block_runs(
    block, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each block in a fresh namespace, in a temporary folder; a ``"....ckpt"`` string in it
    names a checkpoint of a tiny tagger trained by the test session."""
    code = _CKPT_LITERAL.sub(repr(str(tiny_checkpoint)), block.text)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{block.source} (line {block.line})", "exec"), {"__name__": "__readme__"})
