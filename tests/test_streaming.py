"""Tests for seqtagger.inference.streaming: windowed length-sorted batching, ordered re-assembly."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from seqtagger.inference.streaming import OrderedWriter, windowed_batches


def len_of(x: int) -> int:
    """Items are their own length."""
    return x


def _run(items: list[int], batch_size: int, window: int) -> list[tuple[int, int]]:
    emitted: list[tuple[int, int]] = []
    writer: OrderedWriter[int] = OrderedWriter(lambda pos, res: emitted.append((pos, res)))
    for batch in windowed_batches(items, length=lambda x: x, batch_size=batch_size, window=window):
        for pos, item in batch:
            writer.add(pos, item * 10)
    writer.close(total=len(items))
    return emitted


@pytest.mark.parametrize(("batch_size", "window"), [(1, 1), (3, 7), (8, 8), (16, 5), (5, 1000)])
def test_order_preserved_on_shuffled_lengths(batch_size: int, window: int) -> None:
    rng = random.Random(batch_size * 1000 + window)
    items = [rng.randint(1, 50) for _ in range(503)]
    emitted = _run(items, batch_size, window)
    assert [pos for pos, _ in emitted] == list(range(len(items)))
    assert [res for _, res in emitted] == [x * 10 for x in items]


def test_batches_sorted_by_length_within_window() -> None:
    rng = random.Random(0)
    items = [rng.randint(1, 100) for _ in range(250)]
    window, batch_size = 40, 6
    batches = list(windowed_batches(items, length=len_of, batch_size=batch_size, window=window))
    assert all(1 <= len(b) <= batch_size for b in batches)
    seen = [pos for b in batches for pos, _ in b]
    assert sorted(seen) == list(range(len(items)))
    # flattened batches, window by window: every window holds exactly its own positions, sorted
    # by length (ties by position), and no batch crosses a window boundary
    for b in batches:
        assert len({pos // window for pos, _ in b}) == 1
    flat = [pair for b in batches for pair in b]
    for start in range(0, len(items), window):
        chunk = flat[start : start + window]
        assert {pos for pos, _ in chunk} == set(range(start, min(start + window, len(items))))
        assert chunk == sorted(chunk, key=lambda pair: (pair[1], pair[0]))
        assert all(items[pos] == item for pos, item in chunk)


def test_empty_input_yields_nothing() -> None:
    assert list(windowed_batches([], length=len, batch_size=4)) == []
    assert list(windowed_batches(iter(()), length=len, batch_size=4, window=2)) == []
    writer: OrderedWriter[str] = OrderedWriter(lambda pos, res: None)
    writer.close()
    writer.close(total=0)


def test_memory_bounded_on_large_lazy_input() -> None:
    n, window, batch_size = 200_000, 1000, 32
    produced = 0
    emitted = 0
    max_held = 0

    def source() -> Iterator[int]:
        nonlocal produced
        rng = random.Random(1)
        for _ in range(n):
            produced += 1
            yield rng.randint(1, 60)

    def emit(pos: int, res: int) -> None:
        nonlocal emitted
        assert pos == emitted
        emitted += 1

    writer: OrderedWriter[int] = OrderedWriter(emit, max_pending=window)
    for batch in windowed_batches(source(), length=len_of, batch_size=batch_size, window=window):
        max_held = max(max_held, produced - emitted)
        assert produced - emitted <= window + batch_size
        for pos, item in batch:
            writer.add(pos, item)
        max_held = max(max_held, produced - emitted)
    writer.close(total=n)
    assert produced == emitted == n
    assert max_held <= window + batch_size


def test_reads_lazily_one_window_at_a_time() -> None:
    produced = 0

    def source() -> Iterator[int]:
        nonlocal produced
        for i in range(100):
            produced += 1
            yield i

    batches = windowed_batches(source(), length=len_of, batch_size=4, window=10)
    assert produced == 0
    next(batches)
    assert produced == 10
    for _ in range(2):
        next(batches)
    assert produced == 10  # the window's 3rd batch comes from the same window
    next(batches)
    assert produced == 20


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        list(windowed_batches([1], length=len_of, batch_size=0))
    with pytest.raises(ValueError, match="window"):
        list(windowed_batches([1], length=len_of, batch_size=1, window=0))


def test_writer_rejects_duplicates_and_negative() -> None:
    writer: OrderedWriter[str] = OrderedWriter(lambda pos, res: None)
    writer.add(0, "a")
    writer.add(2, "c")
    with pytest.raises(ValueError, match="position 0 was added twice"):
        writer.add(0, "a")
    with pytest.raises(ValueError, match="position 2 was added twice"):
        writer.add(2, "c")
    with pytest.raises(ValueError, match=">= 0"):
        writer.add(-1, "x")


def test_writer_close_reports_missing_positions() -> None:
    out: list[int] = []
    writer: OrderedWriter[str] = OrderedWriter(lambda pos, res: out.append(pos))
    writer.add(0, "a")
    writer.add(3, "d")
    assert out == [0]
    assert writer.pending == 1
    assert writer.next_position == 1
    with pytest.raises(ValueError, match=r"2 position\(s\) never added: 1, 2"):
        writer.close()


def test_writer_close_with_total_catches_missing_tail() -> None:
    writer: OrderedWriter[str] = OrderedWriter(lambda pos, res: None)
    for pos in range(3):
        writer.add(pos, "x")
    writer.close()  # no gap visible without total
    with pytest.raises(ValueError, match="never added: 3, 4"):
        writer.close(total=5)
    with pytest.raises(ValueError, match="total 2"):
        writer.close(total=2)


def test_writer_max_pending() -> None:
    writer: OrderedWriter[int] = OrderedWriter(lambda pos, res: None, max_pending=2)
    writer.add(1, 1)
    writer.add(2, 2)
    with pytest.raises(RuntimeError, match="max_pending=2"):
        writer.add(3, 3)
