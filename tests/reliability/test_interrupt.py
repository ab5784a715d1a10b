"""Ctrl-C during ``seqtagger-predict`` on a large input leaves whole sentences only."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from tests.helpers import start_module, wait_for

SENTENCE = "Anna Smith visited the United Nations in Paris today ."


def _blocks(conll: str) -> list[list[str]]:
    """The sentences of CoNLL output: token lists, each ended by a blank line."""
    assert conll.endswith("\n\n"), "the output ends inside a sentence"
    blocks = conll[:-2].split("\n\n") if conll.strip() else []
    return [[line.split("\t")[0] for line in block.split("\n")] for block in blocks]


@pytest.mark.slow  # a child process tags for some seconds before the signal
@pytest.mark.parametrize("to_file", [True, False], ids=["output-file", "stdout"])
def test_ctrl_c_leaves_whole_sentences(tiny_checkpoint: Path, tmp_path: Path, to_file: bool):
    source = tmp_path / "big.txt"
    lines = [f"{SENTENCE} {'word ' * (i % 7)}{i}" for i in range(300_000)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "out.conll"
    args = ["--ckpt", str(tiny_checkpoint), str(source), "--input-format", "tokens"]
    args += ["--window", "256", "--no-progress", *(["-o", str(output)] if to_file else [])]
    process = start_module("seqtagger.predict", args, tmp_path)

    first: list[str] = []

    def started() -> bool:  # some sentences are tagged: the run is mid-way
        if to_file:
            return any(p.stat().st_size > 100_000 for p in tmp_path.glob(".out.conll.*"))
        first.append(process.stdout.readline())
        return True

    wait_for(started, process, timeout=120)
    process.send_signal(signal.SIGINT)
    stdout = "".join(first) + process.stdout.read()  # read() also drains what readline buffered
    stderr = process.stderr.read()
    process.wait(timeout=60)

    assert process.returncode == 130, stderr
    where = re.escape(str(output) if to_file else "stdout")
    found = re.search(rf"interrupted: {where} holds the first ([\d,]+) sentences", stderr)
    assert found, stderr
    written = int(found.group(1).replace(",", ""))
    assert 0 < written < len(lines)
    if to_file:
        assert stdout == "" and not list(tmp_path.glob(".out.conll.*"))  # no temporary left
        stdout = output.read_text(encoding="utf-8")
    sentences = _blocks(stdout)
    assert len(sentences) == written
    assert sentences == [line.split() for line in lines[:written]]
