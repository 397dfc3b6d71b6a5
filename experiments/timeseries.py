"""The background recorder's time series: fault window, recovery time and SLO figures.

The recorder writes ``<journals>/<experiment>.timeseries.json`` =
``{"experiment", "interval_s", "started": <epoch s>, "samples": [{"t", "requests",
"errors", "degraded", "p99_ms"}]}``. The fault window comes from the journal: from the
start of the first non-background method action to the end of the last non-background
method action. Recovery time is measured from the fault's start to the first moment
after the first SLO breach from which the series stays within the SLO (no errors,
degraded ratio and p99 within budget) for ``sustain_s``; no breach at all means 0 s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_SUSTAIN_S = 1.0


class TimeSeriesError(Exception):
    """The time series file is missing or malformed."""


@dataclass(frozen=True)
class Slo:
    """The deployment's service level objectives (the ``slo`` block of contract 2)."""

    availability: float = 0.999
    p99_ms: float = 250.0
    max_degraded_ratio: float = 0.05
    rto_s: float = 30.0
    source: str = "defaults"

    @classmethod
    def from_mapping(cls, block: Any, source: str) -> Slo | None:
        """An Slo from a literal ``slo`` dict, or None when it is not one (e.g. an env ref)."""
        if not isinstance(block, dict):
            return None
        values: dict[str, float] = {}
        for key in ("availability", "p99_ms", "max_degraded_ratio", "rto_s"):
            value = block.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            values[key] = float(value)
        return cls(**values, source=source) if values else None


@dataclass(frozen=True)
class Sample:
    t: float
    requests: int
    errors: int
    degraded: int
    p99_ms: float | None


@dataclass(frozen=True)
class TimeSeries:
    experiment: str
    interval_s: float
    started: float
    samples: list[Sample]


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


def timeseries_path(journal: Path) -> Path:
    """``<journal without .json>.timeseries.json``, next to the journal."""
    stem = journal.name[: -len(".json")] if journal.name.endswith(".json") else journal.name
    return journal.with_name(f"{stem}.timeseries.json")


def _number(value: Any, what: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TimeSeriesError(f"{what} is not a finite number: {value!r}")
    return float(value)


def load_timeseries(path: Path) -> TimeSeries:
    """Parse a recorder file, or raise TimeSeriesError naming what is wrong."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise TimeSeriesError(f"time series {path.name} is missing") from None
    except (OSError, ValueError) as exc:
        raise TimeSeriesError(f"time series {path.name} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        raise TimeSeriesError(f"time series {path.name} has no 'samples' list")
    samples = []
    for i, raw in enumerate(data["samples"]):
        if not isinstance(raw, dict):
            raise TimeSeriesError(f"time series {path.name}: sample {i} is not an object")
        samples.append(
            Sample(
                t=_number(raw.get("t"), f"sample {i} t"),
                requests=int(_number(raw.get("requests", 0), f"sample {i} requests")),
                errors=int(_number(raw.get("errors", 0), f"sample {i} errors")),
                degraded=int(_number(raw.get("degraded", 0), f"sample {i} degraded")),
                p99_ms=_number(raw.get("p99_ms"), f"sample {i} p99_ms", allow_none=True),
            )
        )
    samples.sort(key=lambda s: s.t)
    interval = _number(data.get("interval_s", 0.1), "interval_s")
    return TimeSeries(
        experiment=str(data.get("experiment", "")),
        interval_s=interval if interval > 0 else 0.1,
        started=_number(data.get("started"), "started"),
        samples=samples,
    )


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


def within_slo(sample: Sample, slo: Slo) -> bool:
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
    first_breach = next((i for i, s in enumerate(after) if not within_slo(s, slo)), None)
    if first_breach is None:
        return 0.0, False
    run_start: float | None = None
    for sample in after[first_breach:]:
        if not within_slo(sample, slo):
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
