"""The background recorder: user-visible service levels every 100 ms during the method.

It runs as a ``background`` action in the experiment's method, puts the same bounded load
as the SLO window on the endpoint for ``duration_s`` and then writes the time series file
(schema: ``contracts.timeseries``) that the gate plots with the fault window shaded.
It returns by itself after ``duration_s`` + ``timeout_s``: no thread or process outlives it.
``duration_s`` is a ceiling: every catalog method ends with :func:`end_recording`, which
stops the schedule ``after_s`` later, so the series is the whole method plus a short tail
of recovery, however long the method took this time (the region experiments' and
zone-loss's methods vary by seconds from run to run, and a fixed duration had to be set
for the slowest, lengthening every drill by the difference).

It also returns early, within about 0.1 s, when :func:`stop_recording` is called: a
tripped safeguard calls it, because chaoslib waits for the method's background
activities before it plays a single rollback, so a recorder left running would hold the
fault in place for up to ``duration_s`` (300 s for zone-loss on Kubernetes). The series
then ends where the recording stopped; requests still in flight at that moment are not in
it. Both run in the ``chaos run`` process, so a process-wide event is the whole channel.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from contracts.timeseries import INTERVAL_S, Sample, TimeSeries, write_timeseries
from experiments.probes.load import RequestResult, open_loop, percentile

# The activities ``chaos discover`` lists. The stop switch below is for the safeguard
# control, not for experiments, so it is importable but not listed.
__all__ = ["bucket", "end_recording", "record_timeseries"]

_POLL_S = 0.05
_stop = threading.Event()
_ends_at: list[float] = []  # the wall time end_recording set, for the running recording


def stop_recording() -> None:
    """End every running recording now (and any started before :func:`reset_stop`)."""
    _stop.set()


def reset_stop() -> None:
    """Let recordings run their full duration again (a new method is starting)."""
    _stop.clear()


def recording_stopped() -> bool:
    """Whether the safeguard has ended the recordings (they stop within ``_POLL_S``)."""
    return _stop.is_set()


def end_recording(
    after_s: float = 3.0, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, float]:
    """End the running recording ``after_s`` seconds from now (never later than its own
    ``duration_s``): the method's last step, so the tail shows the recovery settle."""
    if after_s < 0:
        raise ActivityFailed(f"end_recording: after_s must be >= 0, not {after_s}")
    ends_at = time.time() + float(after_s)
    _ends_at[:] = [ends_at]
    return {"ends_at": round(ends_at, 3), "after_s": float(after_s)}


def _ended() -> bool:
    return bool(_ends_at) and time.time() >= _ends_at[0]


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
    _ends_at.clear()  # an end set for an earlier recording in this process is not ours
    started = time.time()
    results: list[RequestResult] = []
    try:
        stopped = asyncio.run(_record(endpoint, rate_rps, duration_s, timeout_s, results))
    except ValueError as exc:
        raise ActivityFailed(f"recorder on {endpoint}: {exc}") from exc
    ended = not stopped and bool(_ends_at) and _ends_at[0] < started + duration_s
    if stopped:
        recorded_s = min(duration_s, time.time() - started)
    elif ended:
        recorded_s = min(duration_s, max(0.0, _ends_at[0] - started))
    else:
        recorded_s = duration_s
    series = TimeSeries(experiment, INTERVAL_S, started, bucket(results, started, recorded_s))
    try:
        write_timeseries(series, Path(path))
    except OSError as exc:
        raise ActivityFailed(f"cannot write the time series {path}: {exc}") from exc
    return {
        "path": str(Path(path)),
        "requests": len(results),
        "errors": sum(r.failed for r in results),
        "stopped_early": stopped,
        "ended_by_method": ended,
        "recorded_s": round(recorded_s, 3),
    }


async def _record(
    endpoint: str,
    rate_rps: float,
    duration_s: float,
    timeout_s: float,
    results: list[RequestResult],
) -> bool:
    """Run the open loop into ``results`` until done or stopped; True when stopped."""
    load = asyncio.ensure_future(
        open_loop(endpoint, rate_rps, duration_s, timeout_s, on_result=results.append, until=_ended)
    )
    while not load.done():
        if _stop.is_set():
            load.cancel()
            try:
                await load
            except asyncio.CancelledError:
                return True
            return False
        await asyncio.wait({load}, timeout=_POLL_S)
    load.result()  # a ValueError from the generator surfaces here
    return False
