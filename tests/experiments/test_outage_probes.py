"""serving-outage's judged windows against a real HTTP endpoint answering in set patterns."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.probes.load import RequestResult, summarise
from experiments.probes.outage import fallback_serves_everyone, judge_window, slo_restored
from tests.experiments.fakes import json_server

FALLBACK = (200, True)
REPLICA = (200, False)
UNAVAILABLE = (503, False)  # what the router answers with its fallback turned off


def _endpoint(pattern: list[tuple[int, bool]]):
    """A recommender answering in a repeating pattern of (status, degraded)."""
    cycle = itertools.cycle(pattern)
    lock = threading.Lock()

    def route(method, path, query, body):
        with lock:
            status, degraded = next(cycle)
        if status != 200:
            return status, {"error": "unavailable", "detail": "no replica answered"}
        answer = {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": degraded}
        return 200, {**answer, "reason": "no_healthy_upstream"} if degraded else answer

    return json_server(route)


def _hold(server_url: str, **bounds) -> dict:
    return fallback_serves_everyone(server_url, duration_s=0.25, rate_rps=40, **bounds)


def test_an_outage_answered_by_the_fallback_alone_holds():
    with _endpoint([FALLBACK]) as server:
        window = _hold(server.url)
    assert window["requests"] == 10 and window["degraded_ratio"] == 1.0
    assert window["degraded_reasons"] == {"no_healthy_upstream": 10}


def test_errors_during_the_outage_fail_it_naming_the_statuses():
    with _endpoint([FALLBACK, UNAVAILABLE]) as server, pytest.raises(ActivityFailed) as failed:
        _hold(server.url)
    assert "availability 50.00% below 99.90%" in str(failed.value)
    assert "'503': 5" in str(failed.value)


def test_the_fallback_turned_off_fails_the_outage():
    with _endpoint([UNAVAILABLE]) as server, pytest.raises(ActivityFailed, match="availability 0"):
        _hold(server.url)


def test_answers_from_a_replica_mean_the_outage_was_not_total():
    pattern = [FALLBACK, REPLICA, FALLBACK, FALLBACK]
    with _endpoint(pattern) as server, pytest.raises(ActivityFailed, match="was not total"):
        _hold(server.url)
    with _endpoint(pattern) as server:
        assert _hold(server.url, min_degraded_ratio=0.7)["degraded_ratio"] == 0.7


def test_slow_fallback_answers_break_the_outage_budget():
    def slow(method, path, query, body):
        return 200, {"items": [], "scores": [], "model_version": "v1", "degraded": True}, 0.05

    with json_server(slow) as server, pytest.raises(ActivityFailed, match="over the 20 ms"):
        _hold(server.url, p99_ms=20.0)


def test_judge_names_every_bound_a_window_misses():
    ok = summarise([RequestResult(0.0, 0.01, 200) for _ in range(100)])
    assert judge_window(ok, 0.999, 250.0, max_degraded_ratio=0.05) == []
    results = [
        RequestResult(0.0, 0.4, 429 if i < 10 else 200, degraded=10 <= i < 30) for i in range(100)
    ]
    problems = judge_window(summarise(results), 0.999, 250.0, max_degraded_ratio=0.05)
    assert [p.split(" ")[0] for p in problems] == ["p99", "degraded", "shed"]
    assert judge_window({"requests": 0}, 0.999, 250.0) == ["no request was sent"]


def test_the_slo_is_restored_when_a_window_meets_it():
    with _endpoint([REPLICA]) as server:
        window = slo_restored(server.url, duration_s=0.25, rate_rps=40, within_s=5.0)
    assert window["restored_after_s"] < 0.25 and window["missed_windows"] == []


def test_the_slo_restored_later_within_the_budget_names_the_windows_that_missed_it():
    back_at = time.monotonic() + 0.35

    def recovering(method, path, query, body):
        degraded = time.monotonic() < back_at
        return 200, {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": degraded}

    with json_server(recovering) as server:
        window = slo_restored(server.url, duration_s=0.25, rate_rps=40, within_s=5.0)
    assert window["degraded_ratio"] == 0.0 and window["restored_after_s"] >= 0.25
    assert window["missed_windows"][0][0].startswith("degraded 100.0% of answers, over 5%")


def test_the_slo_not_restored_within_the_budget_fails():
    with _endpoint([REPLICA, FALLBACK]) as server, pytest.raises(ActivityFailed) as failed:
        slo_restored(server.url, duration_s=0.2, rate_rps=40, within_s=0.3)
    assert "SLO not back within 0.3 s" in str(failed.value)
    assert "2 windows missed it" in str(failed.value) and "degraded 50.0%" in str(failed.value)
