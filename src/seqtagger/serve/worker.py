"""The one model worker: requests wait in a queue, those that wait together are tagged together.

A :class:`~seqtagger.inference.Predictor` keeps caches and is not thread-safe, and one forward
pass over many sentences costs little more than over one, so the server runs the model in one
thread only and feeds it batches. The worker is an asyncio task on the server's event loop: it
takes the first waiting request, then the requests already waiting or arriving within
``max_wait_s``, while their sentences fit in ``max_batch`` (a request larger than that runs
alone), and runs them in its thread, one call per set of shared options (raw text or tokens,
scores). Each answer goes to its request's future. A request whose client gave up (its time ran
out) is dropped before it reaches the model. When a batch fails, each of its requests is run
alone, so only the request that caused the error gets it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from seqtagger.serve.queries import Query

log = logging.getLogger(__name__)

RunBatch = Callable[[Sequence[Query]], list[Any]]  # one result per query, in order


@dataclass
class _Waiting:
    query: Query
    future: asyncio.Future[Any]


@dataclass
class BatchStats:
    """The batches the worker formed: how many, and their sizes in sentences and requests."""

    batches: int = 0
    sentences: int = 0
    requests: int = 0
    last: int = 0  # sentences of the latest batch
    sentence_sizes: Counter[int] = field(default_factory=Counter)
    request_sizes: Counter[int] = field(default_factory=Counter)

    def add(self, sentences: int, requests: int) -> None:
        self.batches += 1
        self.sentences += sentences
        self.requests += requests
        self.last = sentences
        self.sentence_sizes[sentences] += 1
        self.request_sizes[requests] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: totals, means, the largest and latest batch, and each size's count
        (``{"sentences": {"1": 40, "7": 3}}``: 40 batches of 1 sentence, 3 of 7)."""

        def mean(total: int) -> float:
            return round(total / self.batches, 2) if self.batches else 0.0

        return {
            "batches": self.batches,
            "sentences": self.sentences,
            "requests": self.requests,
            "mean_sentences": mean(self.sentences),
            "mean_requests": mean(self.requests),
            "largest_sentences": max(self.sentence_sizes, default=0),
            "largest_requests": max(self.request_sizes, default=0),
            "last_sentences": self.last,
            "sizes": {
                "sentences": {str(k): v for k, v in sorted(self.sentence_sizes.items())},
                "requests": {str(k): v for k, v in sorted(self.request_sizes.items())},
            },
        }


class BatchingWorker:
    """Runs ``run_batch`` on batches of waiting queries in one thread (see the module).

    Args:
        run_batch: tags queries that share their options; one result per query.
        max_batch: sentences a batch may hold (more wait for the next one).
        max_wait_s: how long the first request of a batch waits for others to join it.
    """

    def __init__(self, run_batch: RunBatch, max_batch: int, max_wait_s: float) -> None:
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self.busy = False  # a batch is in the model
        self._waiting: deque[_Waiting] = deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqtagger-model")

    @property
    def queued(self) -> int:
        """Requests waiting for the model (not the batch it is running)."""
        return len(self._waiting)

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        self._arrived = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        """Stop the task; waiting requests are cancelled, the thread is let go."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._waiting:
            self._waiting.popleft().future.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, query: Query) -> Any:
        """The result of ``query`` once its batch has run (cancel the await to withdraw it)."""
        if self._arrived is None:
            raise RuntimeError("BatchingWorker.submit before start")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(query, future))
        self._arrived.set()
        return await future

    async def _run_forever(self) -> None:
        while True:
            batch = await self._next_batch()
            groups: dict[tuple, list[_Waiting]] = {}
            for waiting in batch:
                groups.setdefault(waiting.query.options, []).append(waiting)
            for group in groups.values():
                await self._run(group)

    async def _next_batch(self) -> list[_Waiting]:
        """The next batch: the first live request and those that join it (see the module)."""
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            first = self._waiting.popleft()
            if not first.future.done():
                break
        batch, size = [first], first.query.size
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch:
            if not self._waiting:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
                continue
            if self._waiting[0].future.done():  # its client gave up
                self._waiting.popleft()
                continue
            if size + self._waiting[0].query.size > self.max_batch:
                break
            joining = self._waiting.popleft()
            batch.append(joining)
            size += joining.query.size
        return batch

    async def _run(self, group: list[_Waiting]) -> None:
        """Run one group in the model thread and answer its futures."""
        group = [waiting for waiting in group if not waiting.future.done()]
        if not group:
            return
        queries = [waiting.query for waiting in group]
        sentences = sum(query.size for query in queries)
        started = time.perf_counter()
        self.busy = True
        try:
            loop = asyncio.get_running_loop()
            results = await loop.run_in_executor(self._executor, self.run_batch, queries)
        except Exception as error:
            if len(group) > 1:
                log.warning("a batch of %d requests failed; running each alone", len(group))
                for waiting in group:
                    await self._run([waiting])
                return
            if not group[0].future.done():
                group[0].future.set_exception(error)
            return
        finally:
            self.busy = False
        self.stats.add(sentences, len(group))
        log.info(
            "batch %d: %d sentences from %d requests in %.1f ms",
            self.stats.batches,
            sentences,
            len(group),
            1000 * (time.perf_counter() - started),
        )
        for waiting, result in zip(group, results, strict=True):
            if not waiting.future.done():
                waiting.future.set_result(result)
