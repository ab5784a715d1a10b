"""Input from a pipe or a terminal is tagged and written sentence by sentence as it arrives:
``ReadAhead`` reads it in a thread and a window ends when nothing waits."""

from __future__ import annotations

import queue
import sys
from pathlib import Path

import pytest

from seqtagger.errors import InputError
from seqtagger.inference.read_ahead import ReadAhead
from seqtagger.inference.streaming import windowed_batches
from tests.pipes import ANSWER_S, piped


def test_read_ahead_gives_every_item_in_order_and_raises_the_readers_error():
    assert list(ReadAhead(range(10_000), ahead=7)) == list(range(10_000))

    def failing():
        yield 1
        raise InputError("in.txt:2: bad line")

    items = ReadAhead(failing())
    assert next(items) == 1
    with pytest.raises(InputError, match=r"in\.txt:2"):
        next(items)
    assert list(items) == []


def test_a_window_ends_when_nothing_waits():
    arrived: queue.Queue[int] = queue.Queue()
    batches = []

    def slow_source():
        for _ in range(3):
            yield arrived.get()  # one item at a time, when the test sends it

    items = ReadAhead(slow_source())
    batched = windowed_batches(
        items, length=lambda x: 1, batch_size=8, window=64, waiting=items.waiting
    )
    for value in (10, 11, 12):
        arrived.put(value)
        batches.append(next(batched))
    assert batches == [[(0, 10)], [(1, 11)], [(2, 12)]]


def test_without_waiting_a_window_is_read_whole():
    batches = list(windowed_batches(iter(range(5)), length=lambda x: 1, batch_size=2, window=4))
    assert [len(batch) for batch in batches] == [2, 2, 1]


def _read_sentence(lines: queue.Queue[str | None]) -> list[str]:
    """The lines of one output sentence (up to its blank line), waiting at most ANSWER_S."""
    sentence = []
    while (line := lines.get(timeout=ANSWER_S)) not in (None, ""):
        sentence.append(line)
    return sentence


def test_a_pipe_gets_each_sentence_while_its_input_is_still_open(tiny_checkpoint: Path):
    command = [sys.executable, "-m", "seqtagger.predict", "--ckpt", str(tiny_checkpoint)]
    with piped(command) as (process, lines):
        process.stdin.write("Anna Smith visited Paris .\n")
        process.stdin.flush()
        first = _read_sentence(lines)  # answered before the input ends
        assert [line.split("\t")[0] for line in first] == ["Anna", "Smith", "visited", "Paris", "."]
        process.stdin.write("EU rejects it\n")
        process.stdin.flush()
        assert [line.split("\t")[0] for line in _read_sentence(lines)] == ["EU", "rejects", "it"]
        process.stdin.close()
        assert process.wait(timeout=ANSWER_S) == 0
