from __future__ import annotations

import asyncio
import threading

import pytest

from serving.replica.batching import BatcherClosed, MicroBatcher


def run(coro):
    return asyncio.run(coro)


def test_a_lone_request_runs_alone_and_at_once():
    batches: list[int] = []

    async def scenario():
        batcher = MicroBatcher(lambda qs: [q * 2 for q in qs], max_wait_s=30.0)
        batcher._on_batch = lambda size, _s: batches.append(size)
        # max_wait is huge: if a lone request waited for company this would time out
        result = await asyncio.wait_for(batcher.submit(21), timeout=10)
        await batcher.close()
        return result

    assert run(scenario()) == 42
    assert batches == [1]


def test_requests_queued_behind_a_running_batch_are_computed_together():
    release = threading.Event()
    sizes: list[int] = []

    def compute(queries):
        sizes.append(len(queries))
        if len(sizes) == 1:
            release.wait(10)
        return [q + 1 for q in queries]

    async def scenario():
        batcher = MicroBatcher(compute, max_batch=8, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.submit(0))
        while not sizes:
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 21)]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(first, *rest)
        await batcher.close()
        return results

    assert run(scenario()) == list(range(1, 22))
    assert sizes == [1, 8, 8, 4]


def test_a_failing_batch_fails_its_callers_and_the_batcher_keeps_working():
    def compute(queries):
        if "boom" in queries:
            raise ValueError("bad batch")
        return [q.upper() for q in queries]

    async def scenario():
        batcher = MicroBatcher(compute)
        with pytest.raises(ValueError, match="bad batch"):
            await batcher.submit("boom")
        ok = await batcher.submit("fine")
        await batcher.close()
        return ok

    assert run(scenario()) == "FINE"


def test_submitting_after_close_is_refused():
    async def scenario():
        batcher = MicroBatcher(lambda qs: list(qs))
        await batcher.submit(1)
        await batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.submit(2)

    run(scenario())


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(lambda qs: qs, max_batch=0)


def test_a_full_queue_refuses_new_requests_at_once():
    from serving.replica.batching import Overloaded

    release = threading.Event()
    shed: list[str] = []

    def compute(queries):
        release.wait(10)
        return list(queries)

    async def scenario():
        batcher = MicroBatcher(compute, max_batch=1, max_queue=2, on_shed=shed.append)
        first = asyncio.ensure_future(batcher.submit(0))  # taken by the collector, computing
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as refused:
            await batcher.submit(3)
        release.set()
        answers = await asyncio.gather(first, *queued)
        await batcher.close()
        return refused.value.reason, answers

    reason, answers = run(scenario())
    assert reason == "queue_full" and shed == ["queue_full"]
    assert answers == [0, 1, 2], "the queued requests are still answered"


def test_a_request_queued_past_the_time_bound_is_shed_not_computed():
    from serving.replica.batching import Overloaded

    computed: list[list[int]] = []
    shed: list[str] = []

    def compute(queries):
        computed.append(list(queries))
        if len(computed) == 1:
            threading.Event().wait(0.3)  # a slow batch: the next request waits behind it
        return list(queries)

    async def scenario():
        batcher = MicroBatcher(compute, max_batch=1, max_queue_s=0.1, on_shed=shed.append)
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.05)
        late = asyncio.ensure_future(batcher.submit(1))
        results = await asyncio.gather(first, late, return_exceptions=True)
        fresh = await batcher.submit(2)  # the queue is empty again: served at once
        await batcher.close()
        return results, fresh

    (first, late), fresh = run(scenario())
    assert first == 0 and fresh == 2
    assert isinstance(late, Overloaded) and late.reason == "queue_time"
    assert shed == ["queue_time"] and [1] not in computed


@pytest.mark.parametrize("kwargs", [{"max_queue": 0}, {"max_queue_s": 0.0}])
def test_bad_admission_bounds_are_refused(kwargs):
    with pytest.raises(ValueError, match="max_queue"):
        MicroBatcher(lambda qs: qs, **kwargs)
