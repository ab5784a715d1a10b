"""Helpers shared by the ``seqtagger-predict`` tests: the command run in process, its JSON Lines
output parsed, and stdin replaced."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from seqtagger.predict import main


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``main`` in process; returns (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def jsonl(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def set_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
