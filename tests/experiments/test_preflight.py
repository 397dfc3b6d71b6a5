"""Pre-flight: production windows, the steady-state window, the traffic ceiling, --force."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.deployment import Deployment
from experiments.preflight import (
    PreflightRefused,
    drill_load_rps,
    enforce,
    preflight,
    steady_state_refusal,
)
from experiments.windows import window_refusal
from tests.experiments.fakes import deployment

NIGHTS = [{"days": "daily", "start": "02:00", "end": "05:00", "tz": "UTC"}]
AT_NIGHT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
AT_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CONFIG = {
    "endpoint": "http://127.0.0.1:9",
    "ssh_window_s": 1.0,
    "ssh_rate_rps": 20.0,
    "request_timeout_s": 1.0,
    "recorder_rate_rps": 10.0,
    "safeguard_rate_rps": 5.0,
}
HEALTHY = {"requests": 20, "availability": 1.0, "p99_ms": 30.0, "degraded_ratio": 0.0}
BROKEN = {"requests": 20, "availability": 0.5, "p99_ms": 30.0, "degraded_ratio": 0.0}


def _deployment(**keys) -> Deployment:
    return Deployment.from_json(deployment(**keys))


def _measure(window):
    calls = []

    def measure(*args):
        calls.append(args)
        return window

    return measure, calls


def test_staging_is_never_bound_by_windows():
    assert (
        window_refusal(_deployment(environment_kind="staging", drill_windows=NIGHTS), AT_NOON)
        is None
    )


def test_production_refuses_outside_its_windows_and_says_which():
    prod = _deployment(environment_kind="production", drill_windows=NIGHTS)
    assert window_refusal(prod, AT_NIGHT) is None
    refusal = window_refusal(prod, AT_NOON)
    assert "outside every drill window (daily 02:00-05:00 UTC)" in refusal


def test_production_without_windows_has_no_safe_time():
    assert "declares no drill_windows" in window_refusal(
        _deployment(environment_kind="production"), AT_NIGHT
    )


def test_unhealthy_steady_state_is_refused_with_its_figures():
    measure, calls = _measure(BROKEN)
    refusal, window = steady_state_refusal(_deployment(), CONFIG, measure)
    assert calls == [("http://127.0.0.1:9", 1.0, 20.0, 1.0)]
    assert "already unhealthy" in refusal and "availability 0.5000" in refusal
    assert window is BROKEN


def test_a_healthy_steady_state_passes():
    measure, _ = _measure(HEALTHY)
    assert steady_state_refusal(_deployment(), CONFIG, measure)[0] is None


def test_preflight_probes_production_only_and_never_in_a_dry_run():
    measure, calls = _measure(BROKEN)
    experiments = {"replica-loss": {"configuration": CONFIG}}
    prod = _deployment(environment_kind="production", drill_windows=NIGHTS)
    assert preflight(_deployment(), experiments, now=AT_NIGHT, measure=measure).refusals == []
    assert preflight(prod, experiments, now=AT_NIGHT, probe=False, measure=measure).refusals == []
    assert calls == []
    found = preflight(prod, experiments, now=AT_NIGHT, measure=measure)
    assert len(calls) == 1 and "already unhealthy" in found.refusals[0]


def test_drill_load_adds_every_concurrent_source():
    assert drill_load_rps({**CONFIG, "spike_rate_rps": 60.0}) == 95.0
    # serving-outage measures its hold with load of its own, on top of the others.
    outage = {"serving-outage": {"configuration": {**CONFIG, "outage_rate_rps": 20.0}}}
    (problem,) = preflight(_deployment(traffic_ceiling_rps=50), outage, now=AT_NOON).over_ceiling
    assert problem.startswith("serving-outage adds 55 rps") and "outage_rate_rps" in problem


def test_load_over_the_ceiling_is_refused_even_when_forced():
    experiments = {"load-spike": {"configuration": {**CONFIG, "spike_rate_rps": 60.0}}}
    found = preflight(_deployment(traffic_ceiling_rps=50), experiments, now=AT_NOON)
    assert found.over_ceiling == [
        "load-spike adds 95 rps, over the traffic ceiling of 50 rps (lower ssh_rate_rps, "
        "recorder_rate_rps, safeguard_rate_rps, spike_rate_rps with --set)"
    ]
    with pytest.raises(PreflightRefused, match="over the traffic ceiling"):
        enforce(found, "game day")


def test_refusals_need_force_and_the_reason_is_recorded():
    prod = _deployment(environment_kind="production", drill_windows=NIGHTS)
    found = preflight(prod, {}, now=AT_NOON)
    with pytest.raises(PreflightRefused, match=r'outside every drill window.*--force "reason"'):
        enforce(found, None)
    (record,) = enforce(found, "  INC-42 failover rehearsal ")
    assert record["name"] == "recdrill-force"
    assert record["reason"] == "INC-42 failover rehearsal"
    assert "outside every drill window" in record["overrode"][0]


def test_an_empty_force_reason_is_refused():
    with pytest.raises(PreflightRefused, match="--force needs a reason"):
        enforce(preflight(_deployment(), {}, now=AT_NOON), "  ")


def test_nothing_to_refuse_and_no_force_records_nothing():
    assert enforce(preflight(_deployment(), {}, now=AT_NOON), None) == []
