"""Fault window and recovery time from the recorder's series and the journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.outcome import build_outcome, load_slo_file, slo_for
from experiments.timeseries import (
    Sample,
    Slo,
    TimeSeries,
    TimeSeriesError,
    analyse,
    fault_window,
    load_timeseries,
    recovery_time,
    weighted_p99,
)
from tests.experiments.journals import factories as f


def _series(raw: dict) -> TimeSeries:
    return TimeSeries(
        experiment=raw["experiment"],
        interval_s=raw["interval_s"],
        started=raw["started"],
        samples=[Sample(**s) for s in raw["samples"]],
    )


def test_fault_window_spans_non_background_actions() -> None:
    journal = f.clean_journal()
    started = f.fault_start(journal) - 2.0
    start, end = fault_window(journal, started)
    assert start == pytest.approx(2.0)
    kill = journal["run"][1]
    assert end == pytest.approx(f.epoch(kill["end"]) - started)
    background_end = f.epoch(journal["run"][0]["end"]) - started
    assert end < background_end  # the recorder's own span is not the fault


@pytest.mark.parametrize("kind", ["errors", "degraded", "p99"])
def test_recovery_time_after_a_breach(kind: str) -> None:
    journal = f.clean_journal()
    series = _series(f.make_timeseries(journal, breach=(0.3, 1.5), breach_kind=kind))
    analysis = analyse(series, journal, Slo())
    assert analysis.breached and analysis.recovered
    assert analysis.recovery_s == pytest.approx(1.5, abs=0.11)


def test_never_recovering_series() -> None:
    journal = f.clean_journal()
    series = _series(f.make_timeseries(journal, breach=(0.3, None)))
    analysis = analyse(series, journal, Slo())
    assert analysis.recovery_s is None and not analysis.recovered


def test_no_breach_means_zero_recovery_time() -> None:
    journal = f.clean_journal()
    analysis = analyse(_series(f.make_timeseries(journal, breach=None)), journal, Slo())
    assert (analysis.recovery_s, analysis.breached) == (0.0, False)
    assert analysis.availability == 1.0 and analysis.degraded_ratio == 0.0


def test_a_short_healthy_blip_is_not_recovery() -> None:
    journal = f.clean_journal()
    raw = f.make_timeseries(journal, breach=(0.2, 3.0))
    lead = 2.0
    for sample in raw["samples"]:  # healthy for 0.5 s in the middle of the outage
        if 1.0 <= sample["t"] - lead < 1.5:
            sample["errors"] = 0
    recovery, breached = recovery_time(_series(raw), lead, Slo(), sustain_s=1.0)
    assert breached and recovery == pytest.approx(3.0, abs=0.11)


def test_slo_thresholds_decide_what_counts_as_a_breach() -> None:
    journal = f.clean_journal()
    series = _series(f.make_timeseries(journal, breach=(0.3, 1.5), breach_kind="p99"))
    lenient = Slo(p99_ms=1000.0)
    assert analyse(series, journal, lenient).breached is False
    assert analyse(series, journal, Slo(p99_ms=250.0)).breached is True


def test_weighted_p99() -> None:
    samples = [Sample(t=i, requests=10, errors=0, degraded=0, p99_ms=10.0) for i in range(99)]
    samples.append(Sample(t=99, requests=10, errors=0, degraded=0, p99_ms=500.0))
    samples.append(Sample(t=100, requests=0, errors=0, degraded=0, p99_ms=None))
    assert weighted_p99(samples) == 10.0
    samples.append(Sample(t=101, requests=5, errors=0, degraded=0, p99_ms=700.0))
    assert weighted_p99(samples) == 500.0
    assert weighted_p99([]) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot be read"),
        ("[]", "no 'samples' list"),
        ('{"samples": [1]}', "sample 0 is not an object"),
        ('{"started": 1, "samples": [{"t": "x"}]}', "sample 0 t is not a finite number"),
        ('{"samples": []}', "started is not a finite number"),
    ],
)
def test_malformed_series_raise_named_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.timeseries.json"
    path.write_text(content)
    with pytest.raises(TimeSeriesError, match=message):
        load_timeseries(path)


def test_malformed_series_is_a_report_note_and_a_gate_failure(tmp_path: Path) -> None:
    path = f.write_journal(tmp_path, f.clean_journal())
    path.with_name("replica-loss.timeseries.json").write_text("[]")
    outcome = build_outcome(path)
    assert outcome.analysis is None
    assert [(x.phase, x.subject) for x in outcome.verdict.failures] == [("recovery", "time series")]
    assert "no 'samples' list" in outcome.series_problem


def test_slo_sources(tmp_path: Path) -> None:
    journal = f.clean_journal()
    assert slo_for(journal, None).source == "experiment configuration"
    journal["experiment"]["configuration"]["slo"] = {"type": "env", "key": "SLO"}
    assert slo_for(journal, None) == Slo()
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"environment": "local", "slo": {"p99_ms": 90}}))
    slo = load_slo_file(deployment)
    assert slo.p99_ms == 90.0 and slo.max_degraded_ratio == Slo().max_degraded_ratio
    assert slo_for(f.clean_journal(), slo) is slo


def test_slo_from_the_rendered_catalog_flat_keys() -> None:
    journal = f.clean_journal()
    config = journal["experiment"]["configuration"]
    del config["slo"]
    config.update(slo_availability=0.99, slo_p99_ms=120.0, slo_max_degraded_ratio=0.1)
    config["slo_quality_floor"] = 0.8
    slo = slo_for(journal, None)
    assert (slo.availability, slo.p99_ms, slo.max_degraded_ratio) == (0.99, 120.0, 0.1)
    assert slo.rto_s == Slo().rto_s
    config["slo_p99_ms"] = "${p99}"  # an unsubstituted reference is not a number
    assert slo_for(journal, None).p99_ms == Slo().p99_ms


def test_requests_per_second_is_smoothed_over_a_one_second_window():
    from experiments.plots import _rolling_rate

    steady = _rolling_rate([1, 2] * 20, 0.1)
    assert steady[-1] == pytest.approx(15.0)
    assert max(steady[10:]) - min(steady[10:]) < 1.0  # no 10–20 rps sawtooth
    assert _rolling_rate([0] * 10 + [10] * 10, 0.1)[-1] == pytest.approx(100.0)
