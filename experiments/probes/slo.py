"""The steady-state SLO window (DESIGN.md contract 4) and its tolerance."""

from __future__ import annotations

import asyncio
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from contracts.deployment import Slo
from experiments.probes.load import RequestResult, open_loop, summarise

__all__ = ["measure_window", "within_slo"]

_DEFAULT_SLO = Slo()


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
    seconds (open loop: latency from each request's intended send time, each bounded by
    ``timeout_s``) and returns requests, errors, 429s, late requests, availability,
    p50/p99 latency in ms, the degraded ratio and the model versions seen.
    Judge it with the ``within_slo`` tolerance.
    """
    try:
        results: list[RequestResult] = asyncio.run(
            open_loop(endpoint, rate_rps, duration_s, timeout_s)
        )
    except ValueError as exc:
        raise ActivityFailed(f"SLO window on {endpoint}: {exc}") from exc
    result = summarise(results)
    result.update(endpoint=endpoint, duration_s=duration_s, rate_rps=rate_rps)
    return result


def within_slo(
    value: dict[str, Any] | None = None,
    availability: float = _DEFAULT_SLO.availability,
    p99_ms: float = _DEFAULT_SLO.p99_ms,
    max_degraded_ratio: float = _DEFAULT_SLO.max_degraded_ratio,
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
