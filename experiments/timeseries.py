"""Analysis of the recorder's time series (schema: ``contracts.timeseries``).

The fault window comes from the journal: from the start of the first non-background
method action to the end of the last non-background method action. Recovery time is
measured from the fault's start to the first moment after the first SLO breach from
which the series stays within the SLO (no errors, degraded ratio and p99 within budget)
for ``sustain_s``; no breach at all means 0 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.deployment import Slo
from contracts.timeseries import (
    Sample,
    TimeSeries,
    TimeSeriesError,
    load_timeseries,
    timeseries_path,
)

__all__ = [
    "Analysis",
    "Slo",
    "TimeSeries",
    "TimeSeriesError",
    "analyse",
    "fault_window",
    "load_timeseries",
    "recovery_time",
    "sample_within_slo",
    "timeseries_path",
    "weighted_p99",
]

DEFAULT_SUSTAIN_S = 1.0


@dataclass(frozen=True)
class Analysis:
    """What the report and summary show for one experiment's series."""

    availability: float | None
    degraded_ratio: float | None
    p99_ms: float | None
    fault_window: tuple[float, float] | None
    recovery_s: float | None
    recovered: bool
    breached: bool


def _epoch(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def fault_window(journal: dict[str, Any], started: float) -> tuple[float, float] | None:
    """Seconds since ``started`` from the first fault action's start to the last's end."""
    runs = journal.get("run")
    spans = []
    for run in runs if isinstance(runs, list) else []:
        activity = run.get("activity") if isinstance(run, dict) else None
        if not isinstance(activity, dict) or activity.get("background"):
            continue
        if activity.get("type") != "action":
            continue
        begin, end = _epoch(run.get("start")), _epoch(run.get("end"))
        if begin is not None:
            spans.append((begin, end if end is not None else begin))
    if not spans:
        return None
    return min(b for b, _ in spans) - started, max(e for _, e in spans) - started


def sample_within_slo(sample: Sample, slo: Slo) -> bool:
    """An interval is healthy with no errors and degraded ratio and p99 within budget."""
    if sample.errors > 0:
        return False
    if sample.requests and sample.degraded / sample.requests > slo.max_degraded_ratio:
        return False
    return sample.p99_ms is None or sample.p99_ms <= slo.p99_ms


def recovery_time(
    series: TimeSeries,
    fault_start: float,
    slo: Slo,
    sustain_s: float = DEFAULT_SUSTAIN_S,
) -> tuple[float | None, bool]:
    """(seconds from fault start to sustained recovery or None, whether SLO was breached)."""
    after = [s for s in series.samples if s.t >= fault_start]
    first_breach = next((i for i, s in enumerate(after) if not sample_within_slo(s, slo)), None)
    if first_breach is None:
        return 0.0, False
    run_start: float | None = None
    for sample in after[first_breach:]:
        if not sample_within_slo(sample, slo):
            run_start = None
            continue
        if run_start is None:
            run_start = sample.t
        if sample.t + series.interval_s - run_start >= sustain_s - 1e-9:
            return max(0.0, run_start - fault_start), True
    return None, True


def weighted_p99(samples: list[Sample]) -> float | None:
    """99th percentile of interval p99s weighted by request count: a close upper figure."""
    points = sorted((s.p99_ms, s.requests) for s in samples if s.p99_ms is not None and s.requests)
    total = sum(n for _, n in points)
    if not total:
        return None
    threshold, seen = 0.99 * total, 0
    for value, n in points:
        seen += n
        if seen >= threshold:
            return value
    return points[-1][0]


def analyse(
    series: TimeSeries,
    journal: dict[str, Any] | None,
    slo: Slo,
    sustain_s: float = DEFAULT_SUSTAIN_S,
) -> Analysis:
    """Whole-run availability, degraded ratio and p99, and the fault's recovery time."""
    requests = sum(s.requests for s in series.samples)
    errors = sum(s.errors for s in series.samples)
    degraded = sum(s.degraded for s in series.samples)
    window = fault_window(journal or {}, series.started)
    recovery, breached = (None, False)
    if window is not None:
        recovery, breached = recovery_time(series, window[0], slo, sustain_s)
    return Analysis(
        availability=(requests - errors) / requests if requests else None,
        degraded_ratio=degraded / requests if requests else None,
        p99_ms=weighted_p99(series.samples),
        fault_window=window,
        recovery_s=recovery,
        recovered=recovery is not None,
        breached=breached,
    )
