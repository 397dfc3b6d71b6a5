"""serving-outage's rendering: every replica frozen, the outage budget, the thaw and its checks."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

import pytest

from experiments import catalog
from experiments.catalog import serving_outage
from experiments.deployment import configuration_for
from experiments.outcome import build_outcome
from experiments.probes.slo import measure_window, within_slo
from infra.local.selectors import matches, parse_selector
from tests.experiments.fakes import deployment, json_server


def _build(**overrides: Any) -> dict[str, Any]:
    body = deployment("local", **overrides)
    return catalog.build("serving-outage", configuration_for(body, "/tmp/d/deployment.json"))


def _resolve(arguments: dict[str, Any], configuration: dict[str, Any]) -> dict[str, Any]:
    """The arguments as chaoslib passes them: ``${key}`` replaced by the configuration's."""
    return {
        k: configuration[v[2:-1]] if isinstance(v, str) and v.startswith("${") else v
        for k, v in arguments.items()
    }


def _by_name(experiment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in experiment["method"]}


def test_the_freeze_hits_every_replica_active_and_standby():
    experiment = _build()
    conf = experiment["configuration"]
    freeze = _by_name(experiment)["freeze-every-replica"]
    args = _resolve(freeze["provider"]["arguments"], conf)
    assert freeze["provider"]["func"] == "freeze_replicas"
    assert args == {"selector": "app=recdrill-replica", "count": 7}
    wanted = parse_selector(args["selector"])
    for role in ("active", "standby"):
        assert matches(wanted, {"app": "recdrill-replica", "role": role, "zone": "local-a"})
    assert not matches(wanted, {"app": "recdrill-router"})


def test_the_selector_is_what_active_and_standby_share_and_never_empty():
    no_standby = {"active": "app=r,role=active", "standby": "", "router": "app=x"}
    conf = _build(selectors=no_standby, standby_replicas=0)["configuration"]
    assert (conf["outage_selector"], conf["outage_replicas"]) == ("app=r,role=active", 6)
    disjoint = {"active": "app=r,role=active", "standby": "tier=spare", "router": "app=x"}
    with pytest.raises(ValueError, match="share none"):
        _build(selectors=disjoint)


def test_method_freezes_holds_measured_thaws_then_checks_recovery_and_the_slo():
    experiment = _build()
    method = [a["name"] for a in experiment["method"]]
    assert method == [
        "record-timeseries",
        "baseline",
        "freeze-every-replica",
        "fallback-answers-everyone",
        "thaw-every-replica",
        "capacity-back-within-rto",
        "slo-restored-after-thaw",
        "end-recording",
    ]
    assert [a["provider"]["func"] for a in experiment["rollbacks"]] == ["thaw_replicas"]
    conf = experiment["configuration"]
    activities = _by_name(experiment)
    hold = _resolve(activities["fallback-answers-everyone"]["provider"]["arguments"], conf)
    assert hold["duration_s"] == conf["fault_hold_s"] and hold["min_degraded_ratio"] == 1.0
    assert hold["availability"] == conf["slo_availability"] and hold["p99_ms"] == 1000.0
    after = _resolve(activities["slo-restored-after-thaw"]["provider"]["arguments"], conf)
    assert (after["p99_ms"], after["max_degraded_ratio"]) == (250, 0.05)
    assert after["within_s"] == conf["slo_rto_s"]
    # The recorder outlasts the baseline, the hold and a second of recovery after it.
    assert conf["record_s"] > 1.5 + conf["fault_hold_s"] + 1.0
    assert conf["record_tail_s"] >= 1.0
    assert conf["expected_alerts"] == [] and conf["no_alert_reason"] == serving_outage.NO_ALERT


def _hypothesis_judges(window: dict[str, Any], experiment: dict[str, Any]) -> bool:
    (probe,) = experiment["steady-state-hypothesis"]["probes"]
    tolerance = probe["tolerance"]
    assert tolerance["provider"]["func"] == "within_slo"
    args = _resolve(tolerance["provider"]["arguments"], experiment["configuration"])
    return within_slo(window, **args)


def _window(pattern: list[tuple[int, bool]]) -> dict[str, Any]:
    cycle, lock = itertools.cycle(pattern), threading.Lock()

    def route(method, path, query, body):
        with lock:
            status, degraded = next(cycle)
        if status != 200:
            return status, {"error": "unavailable", "detail": "no replica answered"}
        return 200, {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": degraded}

    with json_server(route) as server:
        return measure_window(server.url, duration_s=0.5, rate_rps=40)


def test_the_outage_budget_takes_all_degraded_answers_but_not_one_error():
    experiment = _build()
    degraded = _window([(200, True)])
    assert _hypothesis_judges(degraded, experiment)
    assert not within_slo(degraded, 0.999, 250.0, 0.05), "the normal SLO would refuse it"
    one_error = _window([(503, False)] + [(200, True)] * 19)
    assert one_error["errors"] == 1
    assert not _hypothesis_judges(one_error, experiment)


def test_the_outage_budget_refuses_answers_slower_than_the_router_deadline():
    experiment = _build()
    window = {"requests": 100, "availability": 1.0, "degraded_ratio": 1.0, "shed_ratio": 0.0}
    assert _hypothesis_judges({**window, "p99_ms": 990.0}, experiment)
    assert not _hypothesis_judges({**window, "p99_ms": 1010.0}, experiment)


def test_the_budget_is_in_the_configuration_and_overridable():
    conf = _build()["configuration"]
    assert {k: conf[k] for k in serving_outage.OUTAGE} == serving_outage.OUTAGE
    body = deployment("local")
    config = {**configuration_for(body, "/tmp/d/deployment.json"), "outage_p99_ms": 600.0}
    assert catalog.build("serving-outage", config)["configuration"]["outage_p99_ms"] == 600.0
    assert "serving-outage" not in catalog.names("kubernetes")


RECORDED = Path(__file__).parent / "journals" / "serving_outage"


def test_the_gate_passes_a_real_run_of_the_healthy_router():
    outcome = build_outcome(RECORDED / "healthy" / "serving-outage.json")
    assert outcome.verdict.failures == [] and outcome.verdict.passed
    assert outcome.analysis is not None and outcome.analysis.recovery_s is not None
    assert outcome.analysis.recovery_s <= outcome.slo.rto_s


def test_the_gate_fails_a_real_run_with_the_fallback_turned_off():
    outcome = build_outcome(RECORDED / "fallback_off" / "serving-outage.json")
    failures = {(f.phase, f.subject): f.detail for f in outcome.verdict.failures}
    assert not outcome.verdict.passed
    during = failures["during", "probe 'slo-window-outage-budget'"]
    assert '"error_kinds": {"503": 112}' in during
    assert "stopped by safeguard" in {subject for _, subject in failures}
