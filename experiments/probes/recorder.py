"""The background recorder: user-visible service levels every 100 ms during the method.

It runs as a ``background`` action in the experiment's method, puts the same bounded load
as the SLO window on the endpoint for ``duration_s`` and then writes the time series file
(schema: ``contracts.timeseries``) that the gate plots with the fault window shaded.
It returns by itself after ``duration_s`` + ``timeout_s``: no thread or process outlives it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from contracts.timeseries import INTERVAL_S, Sample, TimeSeries, write_timeseries
from experiments.probes.load import RequestResult, open_loop, percentile

__all__ = ["bucket", "record_timeseries"]


def bucket(
    results: list[RequestResult], started: float, duration_s: float, interval_s: float = INTERVAL_S
) -> list[Sample]:
    """Group results by intended send time into ``interval_s`` samples (empty ones too)."""
    n = max(1, round(duration_s / interval_s))
    groups: list[list[RequestResult]] = [[] for _ in range(n)]
    for result in results:
        index = min(n - 1, max(0, int((result.scheduled - started) / interval_s)))
        groups[index].append(result)
    samples = []
    for index, group in enumerate(groups):
        p99 = percentile([r.latency_s * 1000 for r in group if r.ok], 99)
        samples.append(
            Sample(
                t=round(index * interval_s, 3),
                requests=len(group),
                errors=sum(r.failed for r in group),
                shed=sum(r.shed for r in group),
                degraded=sum(r.ok and r.degraded for r in group),
                p99_ms=round(p99, 2) if p99 is not None else None,
            )
        )
    return samples


def record_timeseries(
    endpoint: str,
    path: str,
    experiment: str,
    duration_s: float = 20.0,
    rate_rps: float = 40.0,
    timeout_s: float = 2.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Record requests, errors, degraded answers and p99 every 100 ms for ``duration_s``.

    Run it as a background action at the start of the method. It writes ``path`` (JSON:
    experiment, interval_s, started, samples) when the window ends and returns a summary.
    """
    started = time.time()
    try:
        results = asyncio.run(open_loop(endpoint, rate_rps, duration_s, timeout_s))
    except ValueError as exc:
        raise ActivityFailed(f"recorder on {endpoint}: {exc}") from exc
    series = TimeSeries(experiment, INTERVAL_S, started, bucket(results, started, duration_s))
    try:
        write_timeseries(series, Path(path))
    except OSError as exc:
        raise ActivityFailed(f"cannot write the time series {path}: {exc}") from exc
    return {
        "path": str(Path(path)),
        "requests": len(results),
        "errors": sum(r.failed for r in results),
    }
