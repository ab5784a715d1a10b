"""Bounded-memory, length-sorted, order-preserving batching for prediction on huge inputs.

Why hand-written: ``datasets``/``DataLoader`` either materialise the whole input or (streaming
mode) give no length sorting; sorting everything by length needs the whole input in memory.
Here we read a bounded *window* of items, sort only that window by length (so padding stays
small), and :class:`OrderedWriter` puts results back in input order as soon as they are
complete. Memory is O(window) whatever the input size.

Typical use::

    writer = OrderedWriter(lambda pos, tags: out.write(format(tags)))
    for batch in windowed_batches(sentences, length=len, batch_size=32, window=4096):
        for (pos, _), tags in zip(batch, predict([s for _, s in batch])):
            writer.add(pos, tags)
    writer.close()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice, repeat
from typing import Generic, TypeVar

from seqtagger.data.documents import document_units
from seqtagger.errors import ConfigError

__all__ = ["OrderedWriter", "document_batches", "windowed_batches"]

T = TypeVar("T")
R = TypeVar("R")


def windowed_batches(
    items: Iterable[T],
    *,
    length: Callable[[T], int],
    batch_size: int,
    window: int = 4096,
    waiting: Callable[[], bool] | None = None,
) -> Iterator[list[tuple[int, T]]]:
    """Yield batches of ``(input_position, item)``, length-sorted within windows.

    At most ``window`` items are read from ``items`` at a time (lazily: the next window is read
    only once every batch of the current one has been requested). Within a window items are
    sorted by ``length`` (ties keep input order) and cut into batches of at most ``batch_size``
    items; a batch never spans two windows. Positions count from 0 over the whole input.
    ``waiting``: whether another item can be read without blocking (``ReadAhead.waiting``);
    given, a window also ends when none is, so streamed input is tagged as it arrives.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    iterator = iter(items)
    offset = 0
    while True:
        chunk = list(enumerate(_window(iterator, window, waiting), start=offset))
        if not chunk:
            return
        offset += len(chunk)
        # sort is stable, so equal lengths keep input order
        chunk.sort(key=lambda pair: length(pair[1]))
        for start in range(0, len(chunk), batch_size):
            yield chunk[start : start + batch_size]
        # drop our reference before reading the next window, so two are never held at once
        del chunk


def _window(iterator: Iterator[T], window: int, waiting: Callable[[], bool] | None) -> list[T]:
    """The next ``window`` items, or fewer: the end of the input, or (with ``waiting``) the
    first moment no further item is waiting after at least one was read."""
    if waiting is None:
        return list(islice(iterator, window))
    chunk: list[T] = []
    for item in iterator:
        chunk.append(item)
        if len(chunk) >= window or not waiting():
            break
    return chunk


def document_batches(
    items: Iterable[T], documents: Iterable[int] | None, *, batch_size: int, window: int = 4096
) -> Iterator[list[tuple[int, T, int]]]:
    """Yield batches of ``(input_position, item, unit)`` in input order, whole units each:
    units (``data/documents.py``: a marked document within the bound, else pieces of text
    without marks; ``documents=None``: the whole input is text without marks) are added until
    the batch holds ``batch_size`` items or more. For a model that reads across a document's
    sentences (a document memory), which reads ``unit`` as the item's document. A unit longer
    than ``window`` items is cut into pieces of ``window``."""
    if batch_size < 1 or window < 1:
        raise ConfigError(f"batch_size and window must be >= 1, got {batch_size}, {window}")
    batch: list[tuple[int, T, int]] = []
    run = 0  # items of the batch's last unit
    pairs = zip(items, documents, strict=True) if documents is not None else zip(items, repeat(0))
    for position, (item, document) in enumerate(document_units(pairs)):
        continues = bool(batch) and batch[-1][2] == document and run < window
        if batch and not continues and len(batch) >= batch_size:
            yield batch
            batch = []
        run = run + 1 if continues else 1
        batch.append((position, item, document))
    if batch:
        yield batch


class OrderedWriter(Generic[R]):
    """Re-order results arriving out of order and ``emit`` them in input order.

    ``emit(position, result)`` is called for position 0, 1, 2, ... as soon as each next expected
    position has been added. Results that arrive early wait in a buffer; with
    :func:`windowed_batches` the buffer holds at most about one window. ``max_pending`` (optional)
    turns an unexpectedly large buffer (e.g. a dropped position) into an error early.
    """

    def __init__(self, emit: Callable[[int, R], None], *, max_pending: int | None = None) -> None:
        self._emit = emit
        self._max_pending = max_pending
        self._pending: dict[int, R] = {}
        self._next = 0

    @property
    def next_position(self) -> int:
        """The next position to emit (= number of results emitted so far)."""
        return self._next

    @property
    def pending(self) -> int:
        """Number of results buffered and waiting for an earlier position."""
        return len(self._pending)

    def add(self, position: int, result: R) -> None:
        """Add the ``result`` for input ``position``; emits every result that is now in order."""
        if position < 0:
            raise ValueError(f"OrderedWriter: position must be >= 0, got {position}")
        if position < self._next or position in self._pending:
            raise ValueError(f"OrderedWriter: position {position} was added twice")
        if position != self._next:
            self._pending[position] = result
            if self._max_pending is not None and len(self._pending) > self._max_pending:
                raise RuntimeError(
                    f"OrderedWriter: {len(self._pending)} results buffered (max_pending="
                    f"{self._max_pending}) while waiting for position {self._next}"
                )
            return
        self._emit(position, result)
        self._next += 1
        pending = self._pending
        while self._next in pending:
            self._emit(self._next, pending.pop(self._next))
            self._next += 1

    def close(self, total: int | None = None) -> None:
        """Check that nothing is missing; raises ``ValueError`` naming missing positions.

        Without ``total`` only gaps before buffered results can be detected; pass the number of
        inputs to also catch missing results at the end.
        """
        end = max(self._pending, default=self._next - 1) + 1
        if total is not None:
            if end > total:
                raise ValueError(f"OrderedWriter: position {end - 1} >= total {total}")
            end = total
        missing = [p for p in range(self._next, end) if p not in self._pending]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise ValueError(
                f"OrderedWriter: {len(missing)} position(s) never added: {shown} "
                f"({len(self._pending)} result(s) not emitted)"
            )
