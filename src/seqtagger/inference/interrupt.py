"""Ctrl-C during ``seqtagger-predict`` never leaves a half-written sentence.

Python raises ``KeyboardInterrupt`` between any two bytecodes, and inside a write blocked on a
pipe (the retry after ``EINTR`` runs signal handlers), so an interrupt could cut a sentence in
two. :class:`WholeSentences` defers a SIGINT that arrives while a sentence is being written to
the end of that write; one that arrives while the model tags (the long part) stops at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class PredictionInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run after ``written`` whole sentences had been written."""

    def __init__(self, written: int) -> None:
        super().__init__(written)
        self.written = written


class WholeSentences:
    """A SIGINT handler for the run; ``with guard.writing():`` brackets one sentence's write.

    Only the main thread can install signal handlers; elsewhere (a library caller's worker
    thread) it changes nothing and Python's default behaviour stays.
    """

    def __init__(self) -> None:
        self.in_write = False
        self.pending = False
        self._previous: object = None

    def __enter__(self) -> WholeSentences:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.in_write:
            self.pending = True
        else:
            raise KeyboardInterrupt

    def begin_write(self) -> None:
        self.in_write = True

    def end_write(self) -> None:
        """Close a sentence's write; an interrupt that came during it takes effect now."""
        self.in_write = False
        if self.pending:
            raise KeyboardInterrupt
