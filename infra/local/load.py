"""A bounded async load generator for the router (used by the integration tests and the bench).

Open loop at a fixed rate, with at most ``concurrency`` requests in flight: a stalled
server slows the generator down instead of piling up thousands of sockets. Each request is
timed from when it was meant to be sent, so a stall that holds sends back still shows in
the latencies (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson


@dataclass
class Sample:
    started: float
    latency: float
    status: int | None
    degraded: bool = False
    reason: str | None = None
    replica: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status != 200


@dataclass
class LoadReport:
    samples: list[Sample] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.samples)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.samples)

    @property
    def degraded(self) -> int:
        return sum(s.degraded for s in self.samples if not s.failed)

    @property
    def degraded_ratio(self) -> float:
        return self.degraded / self.requests if self.requests else 0.0

    def percentile_ms(self, q: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(s.latency for s in self.samples)
        index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
        return ordered[index] * 1000

    def summary(self) -> dict:
        errors: dict[str, int] = {}
        reasons: dict[str, int] = {}
        for s in self.samples:
            if s.failed:
                key = s.error or str(s.status)
                errors[key] = errors.get(key, 0) + 1
            elif s.degraded:
                reasons[s.reason or "unknown"] = reasons.get(s.reason or "unknown", 0) + 1
        return {
            "requests": self.requests,
            "failed": self.failed,
            "degraded": self.degraded,
            "degraded_ratio": round(self.degraded_ratio, 5),
            "p50_ms": _round(self.percentile_ms(0.5)),
            "p99_ms": _round(self.percentile_ms(0.99)),
            "errors": errors,
            "degraded_reasons": reasons,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def body_for(i: int, users: int | Sequence[str] = 40) -> bytes:
    """Request ``i``'s body: user ``u{i % users}``, or the ``i``-th of a list of user ids."""
    user = users[i % len(users)] if not isinstance(users, int) else f"u{i % users}"
    return orjson.dumps({"user_id": user, "k": 10})


async def _one(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    timeout: float,
    started: float | None = None,
) -> Sample:
    """One request, timed from ``started`` (its intended send time) or from now."""
    started = time.monotonic() if started is None else started
    try:
        async with session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            payload = await resp.read()
            sample = Sample(started, time.monotonic() - started, resp.status)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Sample(started, time.monotonic() - started, None, error=type(exc).__name__)
    if sample.status == 200:
        try:
            data = orjson.loads(payload)
            sample.degraded = bool(data.get("degraded"))
            sample.reason = data.get("reason")
            sample.replica = data.get("replica")
        except (ValueError, AttributeError):
            sample.status, sample.error = None, "bad_json"
    return sample


async def run_load(
    targets: str | Sequence[str],
    rps: float,
    duration: float,
    concurrency: int = 32,
    timeout: float = 5.0,
    users: int | Sequence[str] = 40,
) -> LoadReport:
    """``rps`` requests per second for ``duration`` s, spread over ``targets`` (base URLs)."""
    urls = [targets] if isinstance(targets, str) else list(targets)
    urls = [f"{u.rstrip('/')}/v1/recommend" for u in urls]
    report = LoadReport()
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fire(i: int, due: float) -> None:
            try:
                url, body = urls[i % len(urls)], body_for(i, users)
                report.samples.append(await _one(session, url, body, timeout, started=due))
            finally:
                slots.release()

        tasks = []
        start = time.monotonic()
        total = int(rps * duration)
        for i in range(total):
            due = start + i / rps
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(fire(i, due)))
        await asyncio.gather(*tasks)
    return report


async def closed_loop(
    targets: str | Sequence[str],
    duration: float,
    concurrency: int = 16,
    users: int | Sequence[str] = 40,
) -> LoadReport:
    """As fast as possible with ``concurrency`` workers: a throughput measurement."""
    urls = [targets] if isinstance(targets, str) else list(targets)
    urls = [f"{u.rstrip('/')}/v1/recommend" for u in urls]
    report = LoadReport()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = time.monotonic() + duration

        async def worker(w: int) -> None:
            i = w
            while time.monotonic() < stop:
                body = body_for(i, users)
                report.samples.append(await _one(session, urls[i % len(urls)], body, 5.0))
                i += concurrency

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return report
