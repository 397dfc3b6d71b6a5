"""The steady-state SLO window (DESIGN.md contract 4) and its tolerance."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments.probes.load import Outcome, drive, percentile

__all__ = ["measure_window", "summarise", "within_slo"]


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    """Requests, errors, 429s, availability, p50/p99 (ms), degraded ratio and versions seen.

    Availability is over the requests that were not shed with 429: shedding is judged
    separately (``shed_ratio``), so a clean refusal is not mistaken for an outage.
    """
    requests = len(outcomes)
    ok = [o for o in outcomes if o.ok]
    shed = sum(o.shed for o in outcomes)
    errors = requests - len(ok) - shed
    served = requests - shed
    latencies = [o.latency_s * 1000 for o in ok]
    degraded = sum(o.degraded for o in ok)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "requests": requests,
        "ok": len(ok),
        "errors": errors,
        "shed": shed,
        "availability": (len(ok) / served) if served else 0.0,
        "shed_ratio": (shed / requests) if requests else 0.0,
        "p50_ms": round(p50, 2) if p50 is not None else None,
        "p99_ms": round(p99, 2) if p99 is not None else None,
        "degraded": degraded,
        "degraded_ratio": (degraded / len(ok)) if ok else 1.0,
        "versions": dict(Counter(o.version for o in ok if o.version)),
        "statuses": {str(k): v for k, v in Counter(o.status for o in outcomes).items()},
    }


def measure_window(
    endpoint: str,
    duration_s: float = 2.0,
    rate_rps: float = 50.0,
    timeout_s: float = 2.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Put bounded load on the recommender's endpoint and report what users saw.

    Sends ``rate_rps`` requests per second to ``POST /v1/recommend`` for ``duration_s``
    seconds (open loop, each request bounded by ``timeout_s``) and returns requests,
    errors, 429s, availability, p50/p99 latency in ms, the degraded ratio and the model
    versions seen. Judge it with the ``within_slo`` tolerance.
    """
    outcomes: list[Outcome] = []
    try:
        asyncio.run(drive(endpoint, rate_rps, duration_s, timeout_s, outcomes.append))
    except ValueError as exc:
        raise ActivityFailed(f"SLO window on {endpoint}: {exc}") from exc
    result = summarise(outcomes)
    result.update(endpoint=endpoint, duration_s=duration_s, rate_rps=rate_rps)
    return result


def within_slo(
    value: dict[str, Any] | None = None,
    availability: float = 0.999,
    p99_ms: float = 250.0,
    max_degraded_ratio: float = 0.05,
    max_shed_ratio: float = 0.0,
    min_requests: int = 1,
) -> bool:
    """Tolerance: the window met the SLO.

    True only when availability ≥ ``availability``, p99 ≤ ``p99_ms``, the degraded ratio
    ≤ ``max_degraded_ratio``, the 429 ratio ≤ ``max_shed_ratio`` and at least
    ``min_requests`` were sent.
    """
    if not isinstance(value, dict) or value.get("requests", 0) < max(1, min_requests):
        return False
    p99 = value.get("p99_ms")
    return (
        value["availability"] >= availability
        and p99 is not None
        and p99 <= p99_ms
        and value["degraded_ratio"] <= max_degraded_ratio
        and value.get("shed_ratio", 0.0) <= max_shed_ratio
    )
