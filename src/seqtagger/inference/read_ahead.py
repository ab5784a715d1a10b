"""``ReadAhead``: items of an iterator read by a thread, so that the reader can ask whether more
are waiting without blocking.

Why: ``seqtagger-predict`` reads a window of sentences before it tags them, which keeps batches
full on files; on a pipe or a terminal that would hold every answer until the window fills or
the input closes. With the input read ahead by a thread, a window ends as soon as no sentence is
waiting (``Predictor.input_waiting``), so a sentence typed or piped in is tagged and written at
once, and input that arrives quickly still fills whole batches. An error of the reader (a bad
line in a file) is raised where the item would have been.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["ReadAhead"]

T = TypeVar("T")
_END = object()


class _Failed:
    """The reader's exception, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterate ``items`` through a bounded queue filled by a daemon thread (``ahead`` items at
    most, so memory stays bounded on any input)."""

    def __init__(self, items: Iterable[T], ahead: int = 4096) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, ahead))
        self._thread = threading.Thread(target=self._read, args=(iter(items),), daemon=True)
        self._thread.start()
        self._done = False

    def _read(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                self._queue.put(item)
        except BaseException as error:
            self._queue.put(_Failed(error))
            return
        self._queue.put(_END)

    def waiting(self) -> bool:
        """Whether the next item (or the end of the input) can be had without waiting."""
        return not self._queue.empty()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failed):
            self._done = True
            raise item.error
        return item  # type: ignore[return-value]
