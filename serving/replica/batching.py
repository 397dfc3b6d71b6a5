"""Micro-batching: concurrent requests share one matmul + top-k instead of one each.

Requests wait in an asyncio queue. One collector task takes what is queued (up to
``max_batch``) and runs it in a worker thread, so the event loop keeps accepting
requests while torch computes (torch releases the GIL). A lone request never waits:
when nothing is in flight and nothing else is queued it runs at once. Only when
there is evidence of concurrency (more than one request queued, or another batch
still computing) does the collector wait up to ``max_wait_s`` to fill the batch.

Admission control: an unbounded queue turns an overload into timeouts for everyone.
The queue is bounded by length (``max_queue``: a request arriving to a full queue is
refused at once) and by time (``max_queue_s``: a request that waited longer is refused
when the collector reaches it, instead of being computed for a client that has likely
given up). Both bounds are off unless given (the replica's settings give them). Both
raise :class:`Overloaded`, which the app answers with 429 + Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Q = TypeVar("Q")
R = TypeVar("R")


class BatcherClosed(RuntimeError):
    """Raised to callers that submit after (or are queued during) close()."""


class Overloaded(RuntimeError):
    """The request was shed: the queue was full, or it waited past the queue-time bound."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason  # "queue_full" or "queue_time": the metric label


class MicroBatcher(Generic[Q, R]):
    """Collect queries into batches and run ``compute(batch) -> answers`` in a thread pool."""

    def __init__(
        self,
        compute: Callable[[Sequence[Q]], Sequence[R]],
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.002,
        concurrency: int = 1,
        on_batch: Callable[[int, float], None] | None = None,
        max_queue: int | None = None,
        max_queue_s: float | None = None,
        on_shed: Callable[[str], None] | None = None,
    ) -> None:
        if max_batch < 1 or concurrency < 1 or max_wait_s < 0:
            raise ValueError("max_batch and concurrency must be >= 1, max_wait_s >= 0")
        bad_queue = max_queue is not None and max_queue < 1
        if bad_queue or (max_queue_s is not None and max_queue_s <= 0):
            raise ValueError("max_queue must be >= 1 and max_queue_s > 0 (None: no bound)")
        self._compute = compute
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_queue_s = max_queue_s
        self._on_batch = on_batch
        self._on_shed = on_shed
        self._queue: asyncio.Queue[tuple[Q, asyncio.Future[R], float]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(concurrency)
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="batch")
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()
        self._collector: asyncio.Task | None = None
        self._closed = False

    def start(self) -> None:
        if self._collector is None:
            self._collector = asyncio.get_running_loop().create_task(self._collect_forever())

    async def submit(self, query: Q) -> R:
        if self._closed:
            raise BatcherClosed("the batcher is closed")
        self.start()
        if self.max_queue is not None and self._queue.qsize() >= self.max_queue:
            self._shed("queue_full")
            raise Overloaded("queue_full", f"{self.max_queue} requests already queued")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.put_nowait((query, future, time.monotonic()))
        return await future

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _shed(self, reason: str) -> None:
        if self._on_shed is not None:
            self._on_shed(reason)

    def _admit(self, item: tuple[Q, asyncio.Future[R], float], now: float) -> bool:
        """False (and the caller refused) when the item waited past ``max_queue_s``.

        Times come from ``time.monotonic()``: uvloop's ``loop.time()`` is cached per loop
        iteration at millisecond resolution, too coarse for a queue-time bound.
        """
        _, future, enqueued = item
        if self.max_queue_s is None or now - enqueued <= self.max_queue_s:
            return True
        if not future.done():
            self._shed("queue_time")
            waited = f"queued {1000 * (now - enqueued):.0f} ms"
            future.set_exception(
                Overloaded("queue_time", f"{waited}, over {1000 * self.max_queue_s:.0f} ms")
            )
        return False

    async def close(self) -> None:
        """Finish the batches already running, fail what is still queued, stop the threads."""
        self._closed = True
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():
            _, future, _ = self._queue.get_nowait()
            if not future.done():
                future.set_exception(BatcherClosed("the replica is shutting down"))
        self._executor.shutdown(wait=True)

    async def _collect_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            batch: list[tuple[Q, asyncio.Future[R], float]] = []
            try:
                while not batch:
                    item = await self._queue.get()
                    if self._admit(item, time.monotonic()):
                        batch.append(item)
            except asyncio.CancelledError:
                self._slots.release()
                raise
            now = time.monotonic()
            while len(batch) < self.max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if self._admit(item, now):
                    batch.append(item)
            if len(batch) < self.max_batch and (len(batch) > 1 or self._in_flight):
                deadline = loop.time() + self.max_wait_s
                while len(batch) < self.max_batch and (left := deadline - loop.time()) > 0:
                    try:
                        item = await asyncio.wait_for(self._queue.get(), left)
                    except TimeoutError:
                        break
                    if self._admit(item, time.monotonic()):
                        batch.append(item)
            self._in_flight += 1
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Q, asyncio.Future[R], float]]) -> None:
        live = [(q, f) for q, f, _ in batch if not f.cancelled()]
        try:
            if not live:
                return
            start = time.perf_counter()
            try:
                answers = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._compute, [q for q, _ in live]
                )
            except Exception as exc:  # one bad batch must fail its callers, not the replica
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                return
            if self._on_batch is not None:
                self._on_batch(len(live), time.perf_counter() - start)
            for (_, future), answer in zip(live, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        finally:
            self._in_flight -= 1
            self._slots.release()
