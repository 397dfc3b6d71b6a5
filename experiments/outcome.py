"""One experiment's gate outcome: the journal verdict joined with its time series analysis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.journal import Failure, Verdict, judge
from experiments.timeseries import (
    DEFAULT_SUSTAIN_S,
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


def evidence_failures(
    verdict: Verdict,
    slo: Slo,
    series: TimeSeries | None,
    problem: str | None,
    analysis: Analysis | None,
) -> list[Failure]:
    """The recorder's evidence as gate failures: no series, or no recovery within the RTO.

    Without a series nothing shows how long the SLO was broken, so the gate cannot
    say the system recovered; a series that never recovers, or recovers after the
    RTO, is exactly the outage the drill exists to catch.
    """
    name = verdict.experiment
    if problem is not None or analysis is None or series is None:
        return [Failure(name, "recovery", "time series", problem or "no time series")]
    if analysis.fault_window is None:
        detail = "the time series holds no fault window (no fault action ran)"
        return [Failure(name, "recovery", "time series", detail)]
    last = series.samples[-1].t + series.interval_s if series.samples else 0.0
    if last < analysis.fault_window[0] + DEFAULT_SUSTAIN_S:
        detail = (
            f"the time series ends at +{last:.1f} s, before the fault started "
            f"(+{analysis.fault_window[0]:.1f} s), so it cannot show its effect"
        )
        return [Failure(name, "recovery", "time series", detail)]
    if analysis.recovery_s is None:
        detail = "the SLO broke after the fault and did not recover before the series ended"
        return [Failure(name, "recovery", "recovery time", detail)]
    if analysis.breached and analysis.recovery_s > slo.rto_s:
        detail = f"recovered after {analysis.recovery_s:.1f} s, over the {slo.rto_s:g} s RTO"
        return [Failure(name, "recovery", "recovery time", detail)]
    return []


def build_outcome(path: Path, slo_override: Slo | None = None) -> Outcome:
    """Judge the journal and its time series; missing or unrecovered evidence fails."""
    verdict = judge(path)
    slo = slo_for(verdict.journal, slo_override)
    try:
        series = load_timeseries(timeseries_path(path))
    except TimeSeriesError as exc:
        series, problem, analysis = None, str(exc), None
    else:
        problem, analysis = None, analyse(series, verdict.journal, slo)
    verdict.failures += evidence_failures(verdict, slo, series, problem, analysis)
    return Outcome(verdict, slo, series, problem, analysis)
