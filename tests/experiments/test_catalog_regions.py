"""The region experiments: rendered only for a deployment with regions, refused otherwise."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest
from chaoslib.experiment import ensure_experiment_is_valid

from experiments import catalog
from experiments.render import render
from tests.experiments.fakes import write_deployment

REGION_EXPERIMENTS = ["replication-lag", "region-loss"]


def regions_block() -> list[dict]:
    return [
        {
            "name": "local-primary",
            "role": "primary",
            "endpoint": "http://127.0.0.1:11",
            "zones": ["local-a", "local-b", "local-c"],
            "store_url": "file:///nonexistent/store",
            "replication_window_s": 7.0,
            "control_url": "http://127.0.0.1:8",
        },
        {
            "name": "local-dr",
            "role": "dr",
            "endpoint": "http://127.0.0.1:12",
            "zones": ["dr-a", "dr-b"],
            "store_url": "file:///nonexistent/dr-store",
            "replication_window_s": 7.0,
            "control_url": "http://127.0.0.1:13",
        },
    ]


def write_regional(tmp_path):
    return write_deployment(
        tmp_path,
        "local",
        regions=regions_block(),
        replicator="http://127.0.0.1:14",
        front_door="http://127.0.0.1:15",
        endpoint="http://127.0.0.1:15",
        workdir=str(tmp_path),
    )


def test_single_region_runs_leave_the_region_experiments_out():
    assert not set(REGION_EXPERIMENTS) & set(catalog.names("local"))
    assert catalog.region_names("local") == REGION_EXPERIMENTS
    assert set(REGION_EXPERIMENTS) <= set(catalog.names("local", regions=True))
    assert catalog.names("kubernetes", regions=True) == catalog.names("kubernetes")


@pytest.mark.parametrize("name", REGION_EXPERIMENTS)
def test_naming_a_region_experiment_for_a_single_region_deployment_says_why(tmp_path, name):
    deployment = write_deployment(tmp_path, "local")
    with pytest.raises(
        catalog.UnknownExperiment, match=r"need a deployment with regions.*--regions 2"
    ):
        render(deployment, tmp_path / "out", [name])


def test_a_regional_deployment_renders_them_valid_with_bound_activities(tmp_path):
    paths = render(write_regional(tmp_path), tmp_path / "out", REGION_EXPERIMENTS)
    for path in paths:
        experiment = json.loads(path.read_text())
        ensure_experiment_is_valid(experiment)
        activities = [
            *experiment["steady-state-hypothesis"]["probes"],
            *experiment["method"],
            *experiment["rollbacks"],
        ]
        for activity in activities:
            provider = activity["provider"]
            func = getattr(importlib.import_module(provider["module"]), provider["func"])
            sig = inspect.signature(func)
            injected = {k: {} for k in ("configuration", "secrets") if k in sig.parameters}
            sig.bind(**provider["arguments"], **injected)
            assert not provider.get("secrets") or "secrets" in sig.parameters
        config = experiment["configuration"]
        assert config["dr_region"] == "local-dr" and config["primary_region"] == "local-primary"
        assert config["dr_control_url"] == "http://127.0.0.1:13"
        assert config["replicator_url"] == "http://127.0.0.1:14"
        assert config["endpoint"] == "http://127.0.0.1:15"  # judged through the front door
        probes = [p["name"] for p in experiment["steady-state-hypothesis"]["probes"]]
        assert probes == ["slo-window-failover-budget", "dr-serves-only-whole-versions"]


def test_region_loss_fails_over_and_back_and_rolls_the_region_back(tmp_path):
    (path,) = render(write_regional(tmp_path), tmp_path / "out", ["region-loss"])
    experiment = json.loads(path.read_text())
    method = [(a["name"], a["provider"]["func"]) for a in experiment["method"]]
    names = [n for n, _ in method]
    assert names.index("rpo-before-loss") < names.index("primary-region-down")
    assert names.index("primary-region-down") < names.index("traffic-on-dr-within-rto")
    assert names[-3:] == ["primary-region-up", "traffic-back-on-primary", "end-recording"]
    down = next(a for a in experiment["method"] if a["name"] == "primary-region-down")
    assert down["provider"]["arguments"] == {"role": "primary"}
    wait = next(a for a in experiment["method"] if a["name"] == "traffic-on-dr-within-rto")
    assert wait["provider"]["arguments"]["timeout_s"] == "${slo_rto_s}"
    assert [a["provider"]["func"] for a in experiment["rollbacks"]] == ["region_up"]
    assert experiment["configuration"]["failover_availability"] == 0.99


def test_replication_lag_promotes_while_slowed_and_restores_in_rollback(tmp_path):
    (path,) = render(write_regional(tmp_path), tmp_path / "out", ["replication-lag"])
    experiment = json.loads(path.read_text())
    funcs = [a["provider"]["func"] for a in experiment["method"]]
    assert funcs.index("slow_replication") < funcs.index("publish_and_promote_copy")
    assert funcs.index("publish_and_promote_copy") < funcs.index("restore_replication")
    assert funcs[-2:] == ["wait_dr_converged", "end_recording"]
    rollbacks = [a["provider"]["func"] for a in experiment["rollbacks"]]
    assert rollbacks == ["restore_replication", "rollback_candidate"]
    alerts = [a["alert"] for a in experiment["configuration"]["expected_alerts"]]
    assert alerts == ["RecdrillDRRegionServesStaleVersion"]


def test_with_regions_escalation_ends_with_the_region_experiments():
    assert catalog.escalation_order("local", regions=True)[-5:] == [
        "zone-loss",
        "zone-hang",
        "serving-outage",
        "replication-lag",
        "region-loss",
    ]
