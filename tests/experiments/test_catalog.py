"""Every rendered experiment validates and every activity binds to a real function."""

from __future__ import annotations

import importlib
import inspect
import json
import stat

import pytest
from chaoslib import merge_vars
from chaoslib.configuration import load_configuration
from chaoslib.exceptions import InvalidActivity
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.secret import load_secrets

from experiments import catalog
from experiments.render import VAR_FILE, render
from tests.experiments.fakes import write_deployment

PLATFORMS = ("local", "kubernetes")


def _activities(experiment: dict):
    """Every activity, including tolerance probes, of an experiment."""
    for activity in [
        *experiment["steady-state-hypothesis"]["probes"],
        *experiment["method"],
        *experiment["rollbacks"],
    ]:
        yield activity
        tolerance = activity.get("tolerance")
        if isinstance(tolerance, dict) and tolerance.get("type") == "probe":
            yield tolerance


def _rendered(tmp_path, platform: str) -> list[dict]:
    paths = render(write_deployment(tmp_path, platform), tmp_path / platform)
    return [json.loads(p.read_text()) for p in paths]


def test_catalog_has_every_contract_experiment_for_each_platform():
    assert catalog.names("kubernetes") == [
        "replica-loss",
        "zone-loss",
        "store-outage",
        "model-corruption",
    ]
    assert set(catalog.names("local")) == {
        "replica-loss",
        "zone-loss",
        "zone-hang",
        "model-corruption",
        "bad-model-rollout",
        "model-rollout",
        "store-outage",
        "slow-replica",
        "load-spike",
        "serving-outage",
    }


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rendered_experiments_validate_and_bind(tmp_path, platform):
    experiments = _rendered(tmp_path, platform)
    assert len(experiments) == len(catalog.names(platform))
    for experiment in experiments:
        ensure_experiment_is_valid(experiment)
        for activity in _activities(experiment):
            provider = activity["provider"]
            func = getattr(importlib.import_module(provider["module"]), provider["func"])
            sig = inspect.signature(func)
            args = dict(provider.get("arguments", {}))
            if activity in [p.get("tolerance") for p in _activities(experiment)]:
                args["value"] = {}
            for injected in ("configuration", "secrets"):
                if injected in sig.parameters:
                    args[injected] = {}
            sig.bind(**args)
            if provider.get("secrets"):
                assert "secrets" in sig.parameters, activity["name"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_experiment_has_a_steady_state_with_slo_and_capacity(tmp_path, platform):
    # serving-outage takes every replica away, so no capacity holds during it: its steady
    # state is the SLO window judged by the outage budget (tests/.../test_serving_outage.py).
    outage = {"serving-outage": ["slo-window-outage-budget"]}
    for experiment in _rendered(tmp_path, platform):
        name = experiment["configuration"]["experiment_name"]
        names = [p["name"] for p in experiment["steady-state-hypothesis"]["probes"]]
        assert names[:2] == outage.get(name, ["slo-window", "ready-capacity"]), name
        assert experiment["runtime"]["hypothesis"]["strategy"] == "continuously"
        recorders = [a for a in experiment["method"] if a.get("background")]
        assert [a["provider"]["func"] for a in recorders] == ["record_timeseries"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_recording_ends_a_short_tail_after_its_method(tmp_path, platform):
    """The recorder's duration is a ceiling; the method's last step ends it, so a slow
    method is recorded whole and a fast one does not idle out a fixed duration."""
    for experiment in _rendered(tmp_path, platform):
        conf, last = experiment["configuration"], experiment["method"][-1]
        assert (last["type"], last["provider"]["func"]) == ("probe", "end_recording")
        assert last["provider"]["arguments"] == {"after_s": "${record_tail_s}"}
        assert 1.0 <= conf["record_tail_s"] < conf["record_s"], conf["experiment_name"]


def test_kubernetes_activities_never_use_local_modules(tmp_path):
    for experiment in _rendered(tmp_path, "kubernetes"):
        modules = {a["provider"]["module"] for a in _activities(experiment)}
        assert "experiments.faults.local" not in modules, modules
        assert "control_url" not in experiment["configuration"]


def test_kubernetes_zone_loss_force_deletes_and_uncordons_in_rollback(tmp_path):
    (zone_loss,) = [e for e in _rendered(tmp_path, "kubernetes") if "zone" in e["tags"]]
    funcs = [a["provider"]["func"] for a in zone_loss["method"]]
    assert "drain_nodes" not in funcs and "zone_down" in funcs
    assert [a["provider"]["func"] for a in zone_loss["rollbacks"]] == ["zone_up"]


def test_token_stays_out_of_rendered_experiments(tmp_path):
    deployment = write_deployment(tmp_path, "local")
    out = tmp_path / "out"
    render(deployment, out)
    for path in out.glob("*.json"):
        if path.name != VAR_FILE:
            assert "s3cr3t-control-token" not in path.read_text(), path
    assert stat.S_IMODE((out / VAR_FILE).stat().st_mode) == 0o600


def test_var_file_feeds_configuration_and_secrets_through_chaoslib(tmp_path):
    deployment = write_deployment(tmp_path, "local", endpoint="http://127.0.0.1:1234")
    out = tmp_path / "out"
    render(deployment, out, ["zone-loss"])
    experiment = json.loads((out / "zone-loss.json").read_text())
    json.loads((out / VAR_FILE).read_text())
    config_vars, secret_vars = merge_vars({"fault_hold_s": 1.5}, [str(out / VAR_FILE)])
    config = load_configuration(experiment["configuration"], dict(config_vars))
    secrets = load_secrets(experiment["secrets"], config, secret_vars)
    assert config["endpoint"] == "http://127.0.0.1:1234"
    assert config["fault_hold_s"] == 1.5
    assert secrets["recdrill"]["control_token"] == "s3cr3t-control-token"


def test_unknown_or_wrong_platform_experiment_is_refused(tmp_path):
    deployment = write_deployment(tmp_path, "kubernetes")
    with pytest.raises(catalog.UnknownExperiment, match="no kubernetes rendering"):
        render(deployment, tmp_path / "out", ["slow-replica"])
    with pytest.raises(catalog.UnknownExperiment, match="unknown experiment 'nope'"):
        render(deployment, tmp_path / "out", ["nope"])


def test_validation_catches_an_activity_pointing_at_a_missing_function(tmp_path):
    (experiment, *_) = _rendered(tmp_path, "local")
    experiment["method"][2]["provider"]["func"] = "no_such_fault"
    with pytest.raises(InvalidActivity, match="no_such_fault"):
        ensure_experiment_is_valid(experiment)
