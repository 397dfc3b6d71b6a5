"""The one load generator against real HTTP servers on loopback: stalls show, nothing hides."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from aiohttp import web

from experiments.probes.load import (
    LATE,
    RequestResult,
    closed_loop,
    open_loop,
    percentile,
    summarise,
)

ANSWER = {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": False}


@contextmanager
def recommender(
    hold_s: Callable[[float], float] = lambda now: 0.0,
) -> Iterator[tuple[str, list[dict]]]:
    """A tiny aiohttp recommender on loopback, in its own thread and event loop.

    ``hold_s(now)`` says how long to hold a request arriving at ``now`` (monotonic s).
    Yields its base URL and the list of requests it has seen.
    """
    seen: list[dict] = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict = {}

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"path": request.path, "body": body})
        hold = hold_s(time.monotonic())
        if hold > 0:
            await asyncio.sleep(hold)
        return web.json_response(ANSWER)

    async def start() -> None:
        app = web.Application()
        app.router.add_post("/v1/recommend", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        box["runner"] = runner
        box["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()))
    thread.start()
    ready.wait(10)
    try:
        yield box["url"], seen
    finally:
        asyncio.run_coroutine_threadsafe(box["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def stall(after_s: float, stall_s: float) -> Callable[[float], float]:
    """Hold every request arriving during the stall until it ends (a GC pause, say)."""
    first: list[float] = []

    def hold(now: float) -> float:
        if not first:
            first.append(now)
        begin = first[0] + after_s
        return begin + stall_s - now if begin <= now < begin + stall_s else 0.0

    return hold


def test_a_server_stall_shows_in_open_loop_p99_but_not_in_send_time_latency():
    with recommender(stall(after_s=0.3, stall_s=0.3)) as (url, _):
        results = asyncio.run(
            open_loop(url, rate_rps=200, duration_s=1.5, timeout_s=2.0, max_in_flight=1)
        )
    assert len(results) == 300 and all(r.ok for r in results)
    open_p99 = percentile([r.latency_s for r in results], 99)
    naive_p99 = percentile([r.service_s for r in results], 99)
    # Requests due during the 300 ms stall waited for it: they carry it in their latency.
    assert open_p99 >= 0.25, open_p99
    # Timed from the moment each left, only the one request inside the stall saw it
    # (relative, so CPU contention on a shared runner slows both figures alike).
    assert naive_p99 <= open_p99 / 2, (naive_p99, open_p99)
    assert summarise(results)["p99_ms"] >= 250


def test_requests_that_cannot_be_sent_in_time_count_as_late_errors():
    blocked: list[bool] = []

    def starve_the_generator(result: RequestResult) -> None:
        if not blocked:
            blocked.append(True)
            time.sleep(0.6)  # the generator's own loop gets no CPU for 600 ms

    with recommender() as (url, _):
        results = asyncio.run(
            open_loop(url, 50, 1.0, timeout_s=0.3, on_result=starve_the_generator)
        )
    summary = summarise(results)
    assert summary["requests"] == 50, "a late request must be counted, not dropped"
    assert summary["late"] > 0 and summary["error_kinds"].get(LATE) == summary["late"]
    assert summary["errors"] >= summary["late"] and summary["availability"] < 1.0


def test_open_loop_spreads_requests_over_targets_and_reads_the_answer():
    with recommender() as (url_a, seen_a), recommender() as (url_b, seen_b):
        results = asyncio.run(open_loop([url_a, url_b + "/"], 40, 0.5))
    assert len(seen_a) == len(seen_b) == 10
    assert all(r["path"] == "/v1/recommend" for r in seen_a + seen_b)
    assert {r["body"]["user_id"] for r in seen_a} == {f"u{i}" for i in range(0, 20, 2)}
    assert summarise(results)["versions"] == {"v1": 20}
    scheduled = [r.scheduled for r in results]
    assert max(scheduled) - min(scheduled) == pytest.approx(19 / 40, abs=1e-6)


def test_unreachable_target_fails_every_request_with_its_reason():
    results = asyncio.run(open_loop("http://127.0.0.1:9", 20, 0.2, timeout_s=0.5))
    summary = summarise(results)
    assert summary["requests"] == 4 and summary["errors"] == 4 and summary["p99_ms"] is None
    assert "ClientConnectorError" in summary["error_kinds"]


def test_closed_loop_keeps_concurrency_clients_busy():
    with recommender(lambda now: 0.05) as (url, _):
        results = asyncio.run(closed_loop(url, duration_s=0.5, concurrency=4))
    # 4 clients × ~0.5 s / 50 ms each: about 40 answers, far from an open-loop schedule.
    assert 16 <= len(results) <= 48 and all(r.ok for r in results)
    assert min(r.latency_s for r in results) >= 0.05


@pytest.mark.parametrize(
    "kwargs",
    [{"rate_rps": 0}, {"duration_s": -1}, {"timeout_s": 0}, {"max_in_flight": 0}],
)
def test_open_loop_refuses_non_positive_settings(kwargs):
    args = {"rate_rps": 10, "duration_s": 1, "timeout_s": 1, "max_in_flight": 1, **kwargs}
    with pytest.raises(ValueError, match="must be positive"):
        asyncio.run(open_loop("http://127.0.0.1:9", **args))


def test_summary_keeps_shed_apart_from_errors():
    results = [RequestResult(0.0, 0.01, 200)] * 8 + [
        RequestResult(0.0, 0.01, 429),
        RequestResult(0.0, 0.5, 0, error="timeout"),
    ]
    summary = summarise(results)
    assert summary["shed"] == 1 and summary["errors"] == 1 and summary["late"] == 0
    assert summary["availability"] == pytest.approx(8 / 9)
    assert summary["error_kinds"] == {"timeout": 1}


def test_percentile_is_nearest_rank():
    assert percentile([], 99) is None
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([5.0], 50) == 5.0
