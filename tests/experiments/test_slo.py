"""SLO window, tolerance and background recorder against a real HTTP endpoint."""

from __future__ import annotations

import itertools
import json
import threading

import pytest

from contracts.timeseries import Sample, load_timeseries
from experiments.probes.load import RequestResult, summarise
from experiments.probes.recorder import bucket, record_timeseries
from experiments.probes.slo import measure_window, within_slo
from tests.experiments.fakes import json_server

SLO = {"availability": 0.999, "p99_ms": 250.0, "max_degraded_ratio": 0.05}


def _endpoint(pattern: list[tuple[int, bool]]):
    """A recommender answering in a repeating pattern of (status, degraded)."""
    cycle = itertools.cycle(pattern)
    lock = threading.Lock()

    def route(method, path, query, body):
        with lock:
            status, degraded = next(cycle)
        if status != 200:
            return status, {"error": "x", "detail": "y"}
        return 200, {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": degraded}

    return json_server(route)


def test_healthy_endpoint_meets_the_slo():
    with _endpoint([(200, False)]) as server:
        window = measure_window(server.url, duration_s=0.5, rate_rps=40)
    assert window["requests"] == 20 and window["errors"] == 0
    assert window["availability"] == 1.0 and window["versions"] == {"v1": 20}
    assert window["p99_ms"] is not None
    assert within_slo(window, **SLO)


def test_errors_and_degraded_answers_break_the_slo():
    with _endpoint([(200, False), (500, False), (200, True), (200, False)]) as server:
        window = measure_window(server.url, duration_s=0.5, rate_rps=40)
    assert window["errors"] == 5 and window["degraded"] == 5
    assert window["availability"] == pytest.approx(0.75)
    assert not within_slo(window, **SLO)


def test_unreachable_endpoint_counts_every_request_as_an_error():
    window = measure_window("http://127.0.0.1:9", duration_s=0.2, rate_rps=20, timeout_s=0.5)
    assert window["requests"] == 4 and window["errors"] == 4 and window["p99_ms"] is None
    assert not within_slo(window, **SLO)


def test_tolerance_checks_each_bound_separately():
    ok = summarise([RequestResult(0.0, 0.01, 200) for _ in range(100)])
    assert within_slo(ok, **SLO)
    assert not within_slo(ok, availability=0.999, p99_ms=5.0, max_degraded_ratio=0.05)
    degraded = summarise([RequestResult(0.0, 0.01, 200, degraded=i < 10) for i in range(100)])
    assert not within_slo(degraded, **SLO)
    shed = summarise([RequestResult(0.0, 0.01, 429 if i < 10 else 200) for i in range(100)])
    assert shed["availability"] == 1.0 and shed["shed_ratio"] == 0.1
    assert not within_slo(shed, **SLO)
    assert within_slo(shed, **SLO, max_shed_ratio=0.2)
    assert not within_slo(None, **SLO) and not within_slo({"requests": 0}, **SLO)


def test_bucket_groups_by_send_time_into_100ms_samples():
    outcomes = [
        RequestResult(10.05, 0.02, 200),
        RequestResult(10.06, 0.04, 200, degraded=True),
        RequestResult(10.25, 0.01, 0),
        RequestResult(10.26, 0.01, 429),
    ]
    samples = bucket(outcomes, started=10.0, duration_s=0.4)
    assert [s.t for s in samples] == [0.0, 0.1, 0.2, 0.3]
    assert samples[0] == Sample(t=0.0, requests=2, errors=0, shed=0, degraded=1, p99_ms=40.0)
    assert samples[2].errors == 1 and samples[2].shed == 1 and samples[2].p99_ms is None
    assert samples[1].requests == 0


def test_recorder_writes_the_timeseries_file_and_returns_by_itself(tmp_path):
    path = tmp_path / "journals" / "x.timeseries.json"
    before = threading.active_count()
    with _endpoint([(200, False), (500, False)]) as server:
        summary = record_timeseries(server.url, str(path), "x", duration_s=0.5, rate_rps=20)
    data = json.loads(path.read_text())
    assert data["experiment"] == "x" and data["interval_s"] == 0.1
    assert isinstance(data["started"], float) and len(data["samples"]) == 5
    assert sum(s["requests"] for s in data["samples"]) == summary["requests"] == 10
    assert sum(s["errors"] for s in data["samples"]) == summary["errors"] == 5
    assert threading.active_count() <= before
    # What the recorder writes, the report's reader reads back unchanged.
    series = load_timeseries(path)
    assert series.to_json() == data and series.samples[0].shed == 0
