"""A command run with its stdin a pipe, its stdout read line by line as it comes: for the tests
of streamed prediction, which write input and wait for answers before the input closes."""

from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

ANSWER_S = 120  # generous: the first answer includes loading the model on a busy machine


@contextmanager
def piped(command: list[str]) -> Iterator[tuple[subprocess.Popen, queue.Queue[str | None]]]:
    """The running ``command`` and a queue of its stdout lines (without line ends; ``None``
    once stdout closes), filled by a thread; the process is killed on leaving."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield process, lines
    finally:
        process.kill()
