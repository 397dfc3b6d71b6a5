"""The safeguard control's judgement, its trip, its journal record and its Prometheus query."""

from __future__ import annotations

import threading

import pytest

from experiments.controls import safeguard
from experiments.journal import Verdict, _Judge
from tests.experiments.fakes import json_server

LIMITS = {"min_availability": 0.8, "max_p99_ms": 500.0}
HEALTHY = {"requests": 10, "errors": 0, "availability": 1.0, "p99_ms": 20.0}
SLOW = {"requests": 10, "errors": 0, "availability": 1.0, "p99_ms": 900.0}
FAILING = {"requests": 10, "errors": 5, "availability": 0.5, "p99_ms": 20.0}


def _watcher(windows, trip_windows=2):
    feed = iter(windows)
    interrupts: list[str] = []
    stop = lambda: interrupts.append("stop")  # noqa: E731
    return safeguard.Watcher(lambda: next(feed), LIMITS, trip_windows, stop), interrupts


def test_healthy_windows_breach_nothing():
    assert safeguard.thresholds_breached(HEALTHY, LIMITS) == []


@pytest.mark.parametrize(
    ("window", "words"),
    [(SLOW, "p99 900 ms > 500 ms"), (FAILING, "availability 0.500 < 0.8 (5 errors")],
)
def test_each_line_names_the_figure_that_crossed_it(window, words):
    assert any(words in line for line in safeguard.thresholds_breached(window, LIMITS))


def test_an_empty_window_counts_as_users_getting_nothing():
    assert safeguard.thresholds_breached({"requests": 0, "p99_ms": None}, LIMITS)


def test_trips_only_after_enough_bad_windows_in_a_row():
    watcher, _ = _watcher([SLOW, HEALTHY, SLOW, SLOW])
    assert [watcher.check_once() for _ in range(4)] == [False, False, False, True]
    assert "p99 900 ms" in watcher.tripped["reason"]
    assert watcher.tripped["figures"]["p99_ms"] == 900.0
    assert watcher.record()["worst"] == {"availability": 1.0, "p99_ms": 900.0}


def test_the_thread_interrupts_once_and_stops_watching():
    watcher, interrupts = _watcher([HEALTHY, FAILING, FAILING, FAILING, FAILING])
    watcher.start()
    watcher._thread.join(5)
    assert interrupts == ["stop"]
    assert len(watcher.windows) == 3  # it stopped at the trip


def test_a_stopped_watcher_never_interrupts():
    release = threading.Event()

    def measure():
        release.wait(5)
        return SLOW

    interrupts = []
    watcher = safeguard.Watcher(measure, LIMITS, 1, lambda: interrupts.append("stop"))
    watcher.start()
    watcher._stop.set()  # the rollbacks began while a window was being measured
    release.set()
    watcher.stop()
    assert interrupts == []


def test_a_measurement_that_raises_is_noted_not_fatal():
    def measure():
        raise OSError("connection refused")

    watcher = safeguard.Watcher(measure, LIMITS, 1, lambda: None)
    assert watcher.check_once() is False
    assert watcher.problems == ["OSError: connection refused"]


def test_after_experiment_writes_why_it_stopped_into_the_journal(monkeypatch):
    watcher, _ = _watcher([FAILING])
    watcher.trip_windows = 1
    watcher.check_once()
    monkeypatch.setattr(safeguard, "_watcher", watcher)
    journal = {"experiment": {"extensions": [{"name": "other"}]}}
    safeguard.after_experiment_control(context={}, state=journal)
    record = journal["experiment"]["extensions"][-1]
    assert record["name"] == "recdrill-safeguard" and record["tripped"] is True
    assert "availability 0.500" in record["reason"]
    assert journal["experiment"]["extensions"][0] == {"name": "other"}


def test_the_gate_reads_the_record_as_its_own_failure_kind_first(monkeypatch):
    watcher, _ = _watcher([SLOW])
    watcher.trip_windows = 1
    watcher.check_once()
    journal = {"status": "interrupted", "experiment": {"extensions": [watcher.record()]}}
    failures = _Judge("slow-replica", journal).run()
    assert failures[0].phase == "safeguard"
    assert failures[0].subject == "stopped by safeguard"
    assert "p99 900 ms > 500 ms" in failures[0].detail
    assert not Verdict("slow-replica", None, journal, failures).passed


def test_an_untripped_record_is_no_safeguard_failure():
    watcher, _ = _watcher([HEALTHY])
    watcher.check_once()
    journal = {"status": "completed", "experiment": {"extensions": [watcher.record()]}}
    assert not [f for f in _Judge("x", journal).run() if f.phase == "safeguard"]


def test_prometheus_query_value_is_read_and_can_trip():
    answer = {"status": "success", "data": {"result": [{"value": [1.0, "7.5"]}]}}
    with json_server(lambda *a: (200, answer)) as server:
        value = safeguard.prometheus_value(server.url, "sum(rate(x[1m]))")
        assert server.requests[0]["query"] == {"query": "sum(rate(x[1m]))"}
    assert value == 7.5
    window = {**HEALTHY, "prometheus_query": "q", "prometheus_value": value}
    assert safeguard.thresholds_breached(window, {**LIMITS, "prometheus_max": 1.0}) == [
        "prometheus 'q' = 7.5 > 1"
    ]


def test_an_empty_prometheus_result_is_no_value():
    answer = {"status": "success", "data": {"result": []}}
    with json_server(lambda *a: (200, answer)) as server:
        assert safeguard.prometheus_value(server.url, "up") is None


def test_control_block_queries_prometheus_only_when_the_deployment_has_one():
    plain = safeguard.control({"platform": "local"})["provider"]["arguments"]
    watched = safeguard.control({"prometheus_url": "http://p:9090"})["provider"]["arguments"]
    assert "prometheus_url" not in plain
    assert watched["prometheus_query"] == "${safeguard_prometheus_query}"


def test_a_declared_safeguard_that_left_no_record_fails_the_journal():
    declared = {"controls": [safeguard.control({})], "extensions": []}
    failures = _Judge("x", {"status": "completed", "experiment": declared}).run()
    assert [(f.phase, f.subject) for f in failures if f.subject == "safeguard"] == [
        ("journal", "safeguard")
    ]
    assert "users were not watched" in failures[0].detail


def test_a_run_whose_method_never_started_still_records_the_safeguard(monkeypatch):
    monkeypatch.setattr(safeguard, "_watcher", None)
    journal = {"experiment": {"controls": [safeguard.control({})]}}
    safeguard.after_experiment_control(context={}, state=journal)
    assert journal["experiment"]["extensions"] == [
        {
            "name": "recdrill-safeguard",
            "tripped": False,
            "reason": None,
            "figures": None,
            "windows": 0,
        }
    ]
    assert not [f for f in _Judge("x", journal).run() if "safeguard" in (f.phase, f.subject)]
