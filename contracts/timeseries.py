"""The recorder's time series file: written by ``experiments.probes.recorder``, read by the gate.

``<journals>/<experiment>.timeseries.json`` =
``{"experiment", "interval_s", "started": <epoch s>, "samples": [{"t", "requests",
"errors", "shed", "degraded", "p99_ms"}]}``. ``t`` is seconds since ``started`` by
intended send time; ``errors`` excludes 429s, which are counted in ``shed``; ``p99_ms``
is over the answered requests of the interval (null when none were answered).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "INTERVAL_S",
    "Sample",
    "TimeSeries",
    "TimeSeriesError",
    "load_timeseries",
    "timeseries_path",
    "write_timeseries",
]

INTERVAL_S = 0.1


class TimeSeriesError(Exception):
    """The time series file is missing or malformed (named in the message)."""


@dataclass(frozen=True)
class Sample:
    """What users saw during one interval."""

    t: float
    requests: int
    errors: int
    degraded: int
    p99_ms: float | None
    shed: int = 0


@dataclass(frozen=True)
class TimeSeries:
    experiment: str
    interval_s: float
    started: float
    samples: list[Sample]

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "interval_s": self.interval_s,
            "started": self.started,
            "samples": [asdict(s) for s in self.samples],
        }


def timeseries_path(journal: Path) -> Path:
    """``<journal without .json>.timeseries.json``, next to the journal."""
    stem = journal.name[: -len(".json")] if journal.name.endswith(".json") else journal.name
    return journal.with_name(f"{stem}.timeseries.json")


def write_timeseries(series: TimeSeries, path: Path) -> None:
    """Write atomically, so the gate never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(series.to_json()))
    os.replace(tmp, path)


def _number(value: Any, what: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TimeSeriesError(f"{what} is not a finite number: {value!r}")
    return float(value)


def _sample(raw: Any, i: int, name: str) -> Sample:
    if not isinstance(raw, dict):
        raise TimeSeriesError(f"time series {name}: sample {i} is not an object")

    def count(key: str) -> int:
        return int(_number(raw.get(key, 0), f"sample {i} {key}") or 0)

    return Sample(
        t=_number(raw.get("t"), f"sample {i} t") or 0.0,
        requests=count("requests"),
        errors=count("errors"),
        degraded=count("degraded"),
        p99_ms=_number(raw.get("p99_ms"), f"sample {i} p99_ms", allow_none=True),
        shed=count("shed"),
    )


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
    samples = sorted(
        (_sample(raw, i, path.name) for i, raw in enumerate(data["samples"])), key=lambda s: s.t
    )
    interval = _number(data.get("interval_s", INTERVAL_S), "interval_s") or 0.0
    return TimeSeries(
        experiment=str(data.get("experiment", "")),
        interval_s=interval if interval > 0 else INTERVAL_S,
        started=_number(data.get("started"), "started") or 0.0,
        samples=samples,
    )
