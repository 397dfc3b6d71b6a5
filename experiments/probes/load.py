"""The one load generator for ``POST /v1/recommend``: probes, benchmarks and local tests.

Open loop (``open_loop``): request ``i`` is due at ``start + i / rate`` whatever the
latency, and its latency is measured from that *intended* time, not from when it left.
A generator that waits for a free slot and then starts the clock hides every stall
(coordinated omission); this one charges the wait to the request. In-flight requests
are bounded: a request that cannot get a slot before its deadline (intended time +
``timeout_s``) is recorded as ``late`` (a failure), never silently dropped, so
``requests`` always equals ``rate × duration``.

Closed loop (``closed_loop``): ``concurrency`` clients send as fast as answers come. It
measures capacity (requests/s), not user latency, so there latency runs from the send.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

__all__ = [
    "LATE",
    "MAX_IN_FLIGHT",
    "RequestResult",
    "closed_loop",
    "default_bodies",
    "open_loop",
    "percentile",
    "summarise",
]

MAX_IN_FLIGHT = 256
LATE = "late"
_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class RequestResult:
    """One request as a user saw it.

    ``scheduled`` is the intended send time (epoch s), ``latency_s`` runs from it to the
    answer and ``service_s`` from the actual send (0 when never sent). ``status`` 0
    means no HTTP answer (refused, reset, timed out, late); ``error`` then says which.
    """

    scheduled: float
    latency_s: float
    status: int
    degraded: bool = False
    version: str | None = None
    reason: str | None = None
    replica: str | None = None
    error: str | None = None
    service_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def shed(self) -> bool:
        return self.status == 429

    @property
    def failed(self) -> bool:
        """Neither answered nor cleanly shed: what availability counts against."""
        return not self.ok and not self.shed


def default_bodies(users: int = 40) -> list[bytes]:
    """One body per user id ``u0``…: the probes' traffic."""
    return [orjson.dumps({"user_id": f"u{i}", "k": 10}) for i in range(max(1, users))]


def _urls(targets: str | Sequence[str]) -> list[str]:
    bases = [targets] if isinstance(targets, str) else list(targets)
    if not bases:
        raise ValueError("no target URL given")
    return [f"{b.rstrip('/')}/v1/recommend" for b in bases]


async def _send(
    session: aiohttp.ClientSession, url: str, body: bytes, timeout_s: float
) -> tuple[int, dict[str, Any], str | None]:
    """(status, parsed 200 body, error name); status 0 when no usable answer came."""
    try:
        async with session.post(
            url, data=body, headers=_HEADERS, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            payload = await resp.read()
            status = resp.status
    except TimeoutError:
        return 0, {}, "timeout"
    except (aiohttp.ClientError, OSError) as exc:
        return 0, {}, type(exc).__name__
    if status != 200:
        return status, {}, None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return 0, {}, "bad_json"
    if not isinstance(data, dict):
        return 0, {}, "bad_json"
    return 200, data, None


def _result(
    scheduled: float,
    latency_s: float,
    service_s: float,
    answer: tuple[int, dict[str, Any], str | None],
) -> RequestResult:
    status, data, error = answer
    return RequestResult(
        scheduled=scheduled,
        latency_s=latency_s,
        status=status,
        degraded=bool(data.get("degraded", False)),
        version=data.get("model_version"),
        reason=data.get("reason"),
        replica=data.get("replica"),
        error=error,
        service_s=service_s,
    )


async def open_loop(
    targets: str | Sequence[str],
    rate_rps: float,
    duration_s: float,
    timeout_s: float = 2.0,
    on_result: Callable[[RequestResult], None] | None = None,
    bodies: Sequence[bytes] | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    until: Callable[[], bool] | None = None,
) -> list[RequestResult]:
    """Send ``rate_rps × duration_s`` requests on a fixed schedule, round-robin over
    ``targets`` (base URLs), and return one result per scheduled request. When ``until``
    turns true no further request is scheduled; those already sent are still answered."""
    if rate_rps <= 0 or duration_s <= 0 or timeout_s <= 0 or max_in_flight < 1:
        raise ValueError("rate_rps, duration_s, timeout_s and max_in_flight must be positive")
    urls = _urls(targets)
    bodies = list(bodies) if bodies else default_bodies()
    total = max(1, round(rate_rps * duration_s))
    results: list[RequestResult] = []

    def record(result: RequestResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    slots = asyncio.Semaphore(max_in_flight)
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=max_in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int, due: float, wall_due: float) -> None:
            # Every holder of a slot was due earlier, so the wait is bounded by their
            # deadlines; what is still unsent at its own deadline is late.
            deadline = due + timeout_s
            await slots.acquire()
            try:
                sent = loop.time()
                if sent >= deadline:
                    record(RequestResult(wall_due, sent - due, 0, error=LATE))
                    return
                answer = await _send(
                    session, urls[i % len(urls)], bodies[i % len(bodies)], deadline - sent
                )
                done = loop.time()
                record(_result(wall_due, done - due, done - sent, answer))
            finally:
                slots.release()

        start, wall_start = loop.time(), time.time()
        tasks = []
        for i in range(total):
            offset = i / rate_rps
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if until is not None and until():
                break
            tasks.append(asyncio.create_task(one(i, start + offset, wall_start + offset)))
        await asyncio.gather(*tasks)
    return results


async def closed_loop(
    targets: str | Sequence[str],
    duration_s: float,
    concurrency: int = 16,
    timeout_s: float = 5.0,
    bodies: Sequence[bytes] | None = None,
) -> list[RequestResult]:
    """``concurrency`` clients, each sending its next request when the last is answered."""
    if duration_s <= 0 or concurrency < 1 or timeout_s <= 0:
        raise ValueError("duration_s, concurrency and timeout_s must be positive")
    urls = _urls(targets)
    bodies = list(bodies) if bodies else default_bodies()
    results: list[RequestResult] = []
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = loop.time() + duration_s
        wall_offset = time.time() - loop.time()

        async def client(first: int) -> None:
            i = first
            while loop.time() < stop:
                sent = loop.time()
                answer = await _send(
                    session, urls[i % len(urls)], bodies[i % len(bodies)], timeout_s
                )
                elapsed = loop.time() - sent
                results.append(_result(sent + wall_offset, elapsed, elapsed, answer))
                i += concurrency

        await asyncio.gather(*(client(n) for n in range(concurrency)))
    return results


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _ms(value: float | None) -> float | None:
    return round(value * 1000, 2) if value is not None else None


def summarise(results: Sequence[RequestResult]) -> dict[str, Any]:
    """Requests, errors, 429s, late, availability, p50/p99 (ms), degraded ratio, versions.

    Latency percentiles are over answered requests. Availability is over the requests
    that were not shed with 429: shedding is judged on its own (``shed_ratio``), so a
    clean refusal is not mistaken for an outage. Late requests count as errors.
    """
    requests = len(results)
    ok = [r for r in results if r.ok]
    shed = sum(r.shed for r in results)
    errors = requests - len(ok) - shed
    served = requests - shed
    latencies = [r.latency_s for r in ok]
    degraded = [r for r in ok if r.degraded]
    return {
        "requests": requests,
        "ok": len(ok),
        "errors": errors,
        "shed": shed,
        "late": sum(r.error == LATE for r in results),
        "availability": (len(ok) / served) if served else 0.0,
        "shed_ratio": (shed / requests) if requests else 0.0,
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "degraded": len(degraded),
        "degraded_ratio": (len(degraded) / len(ok)) if ok else 1.0,
        "versions": dict(Counter(r.version for r in ok if r.version)),
        "statuses": {str(k): v for k, v in Counter(r.status for r in results).items()},
        "error_kinds": dict(Counter(r.error or str(r.status) for r in results if r.failed)),
        "degraded_reasons": dict(Counter(r.reason or "unknown" for r in degraded)),
    }
