"""load-spike's fault judges the spike itself: too slow, too much shedding or errors fail it."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.faults.traffic import judge_spike, spike_traffic


def _window(**overrides):
    body = {"requests": 100, "shed": 0, "degraded": 0, "p99_ms": 40.0, "availability": 1.0}
    return {**body, **overrides}


def test_a_spike_within_budget_holds() -> None:
    assert judge_spike(_window(shed=5, degraded=10), 250, 0.2, 0.999) == []


@pytest.mark.parametrize(
    ("window", "words"),
    [
        (_window(shed=15, degraded=10), "shed 25.0%"),
        (_window(p99_ms=300.0), "p99 of answered requests 300.0 ms"),
        (_window(p99_ms=None), "p99 of answered requests None"),
        (_window(availability=0.9, errors=10, error_kinds={"timeout": 10}), "availability 90.00%"),
        (_window(requests=0), "no request was sent"),
    ],
)
def test_each_way_users_suffer_fails_the_spike(window, words) -> None:
    problems = judge_spike(window, 250, 0.2, 0.999)
    assert any(words in p for p in problems), problems


def test_a_spike_at_an_endpoint_that_answers_nothing_fails_the_action() -> None:
    with pytest.raises(ActivityFailed, match="load spike of 20 rps"):
        spike_traffic("http://127.0.0.1:9", 20, duration_s=0.5, timeout_s=0.2)
