"""One experiment's gate outcome: the journal verdict joined with its time series analysis."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.deployment import PLATFORMS, DeploymentError, Slo
from experiments.detection import Detection, judge_detection, load_sidecar
from experiments.journal import Failure, Verdict, judge
from experiments.timeseries import (
    DEFAULT_SUSTAIN_S,
    Analysis,
    TimeSeries,
    TimeSeriesError,
    analyse,
    load_timeseries,
    timeseries_path,
)


class SloError(Exception):
    """The --slo file cannot be read or holds no valid SLO block."""


@dataclass(frozen=True)
class SloChoice:
    """The SLO an experiment is judged by, and where it came from (the report shows it)."""

    slo: Slo
    origin: str


@dataclass
class Outcome:
    """Everything the JUnit, Markdown and HTML outputs show for one experiment."""

    verdict: Verdict
    slo: Slo
    slo_origin: str
    series: TimeSeries | None
    series_problem: str | None
    analysis: Analysis | None
    detection: Detection | None = None


def _numbers(block: Any) -> dict[str, float]:
    """The SLO keys of ``block`` that hold numbers (an unsubstituted ``${ref}`` does not)."""
    if not isinstance(block, dict):
        return {}
    keys = Slo.__dataclass_fields__
    return {
        k: v
        for k, v in block.items()
        if k in keys and isinstance(v, int | float) and not isinstance(v, bool)
    }


def load_slo_file(path: Path) -> SloChoice:
    """The SLO of a deployment description (its ``slo`` key) or of a bare SLO object;
    keys it leaves out take the defaults of the description's platform."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SloError(f"--slo file {path} cannot be read as JSON: {exc}") from None
    block = data.get("slo", data) if isinstance(data, dict) else None
    if not _numbers(block):
        raise SloError(f"--slo file {path} holds no SLO numbers (availability, p99_ms, …)")
    platform = data.get("platform", "local") if isinstance(data, dict) else "local"
    try:
        slo = Slo.from_json(_numbers(block), platform)
    except DeploymentError as exc:
        raise SloError(f"--slo file {path}: {exc}") from None
    return SloChoice(slo, str(path))


def slo_for(journal: dict[str, Any] | None, override: SloChoice | None) -> SloChoice:
    """The --slo file wins; else the SLO in the experiment configuration; else defaults.

    The configuration may hold a literal ``slo`` object or, as the rendered catalog does,
    flat ``slo_availability``/``slo_p99_ms``/``slo_max_degraded_ratio``/``slo_rto_s`` keys.
    Values that do not make a valid SLO are ignored in favour of the platform's defaults.
    """
    if override is not None:
        return override
    experiment = (journal or {}).get("experiment")
    config = experiment.get("configuration") if isinstance(experiment, dict) else None
    if not isinstance(config, dict):
        return SloChoice(Slo(), "defaults")
    platform = config.get("platform") if config.get("platform") in PLATFORMS else "local"
    flat = {k[len("slo_") :]: v for k, v in config.items() if str(k).startswith("slo_")}
    for block in (config.get("slo"), flat):
        values = _numbers(block)
        if values:
            try:
                return SloChoice(Slo.from_json(values, platform), "experiment configuration")
            except DeploymentError:
                continue
    return SloChoice(Slo.for_platform(platform), "defaults")


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


def build_outcome(path: Path, slo_override: SloChoice | None = None) -> Outcome:
    """Judge the journal, its time series and its alert timeline; missing or unrecovered
    evidence fails, and so does an expected alert that never fired (or fired too late)."""
    verdict = judge(path)
    choice = slo_for(verdict.journal, slo_override)
    slo = choice.slo
    try:
        series = load_timeseries(timeseries_path(path))
    except TimeSeriesError as exc:
        series, problem, analysis = None, str(exc), None
    else:
        problem, analysis = None, analyse(series, verdict.journal, slo)
    verdict.failures += evidence_failures(verdict, slo, series, problem, analysis)
    detection = judge_detection(verdict.experiment, verdict.journal, load_sidecar(path))
    verdict.failures += detection.failures
    return Outcome(verdict, slo, choice.origin, series, problem, analysis, detection)
