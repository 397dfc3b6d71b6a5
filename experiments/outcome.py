"""One experiment's gate outcome: the journal verdict joined with its time series analysis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.journal import Verdict, judge
from experiments.timeseries import (
    Analysis,
    Slo,
    TimeSeries,
    TimeSeriesError,
    analyse,
    load_timeseries,
    timeseries_path,
)


class SloError(Exception):
    """The --slo file cannot be read or holds no SLO block."""


@dataclass
class Outcome:
    """Everything the JUnit, Markdown and HTML outputs show for one experiment."""

    verdict: Verdict
    slo: Slo
    series: TimeSeries | None
    series_problem: str | None
    analysis: Analysis | None


def load_slo_file(path: Path) -> Slo:
    """An Slo from a deployment description (its ``slo`` key) or a bare SLO object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SloError(f"--slo file {path} cannot be read as JSON: {exc}") from None
    block = data.get("slo", data) if isinstance(data, dict) else None
    slo = Slo.from_mapping(block, source=str(path))
    if slo is None:
        raise SloError(f"--slo file {path} holds no SLO numbers (availability, p99_ms, …)")
    return slo


def slo_for(journal: dict[str, Any] | None, override: Slo | None) -> Slo:
    """The --slo file wins; else the SLO in the experiment configuration; else defaults.

    The configuration may hold a literal ``slo`` object or, as the rendered catalog does,
    flat ``slo_availability``/``slo_p99_ms``/``slo_max_degraded_ratio``/``slo_rto_s`` keys.
    """
    if override is not None:
        return override
    experiment = (journal or {}).get("experiment")
    config = experiment.get("configuration") if isinstance(experiment, dict) else None
    if not isinstance(config, dict):
        return Slo()
    flat = {k[len("slo_") :]: v for k, v in config.items() if str(k).startswith("slo_")}
    found = Slo.from_mapping(config.get("slo"), "experiment configuration") or Slo.from_mapping(
        flat, "experiment configuration"
    )
    return found or Slo()


def build_outcome(path: Path, slo_override: Slo | None = None) -> Outcome:
    """Judge the journal and analyse its time series; a missing series is noted, not failed."""
    verdict = judge(path)
    slo = slo_for(verdict.journal, slo_override)
    try:
        series = load_timeseries(timeseries_path(path))
    except TimeSeriesError as exc:
        return Outcome(verdict, slo, None, str(exc), None)
    return Outcome(verdict, slo, series, None, analyse(series, verdict.journal, slo))
