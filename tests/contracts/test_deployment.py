"""The deployment description: one shape, validated, the same both ways through JSON."""

from __future__ import annotations

import copy
import json

import pytest

from contracts.deployment import (
    DESCRIPTION_KEYS,
    RTO_S,
    Control,
    Deployment,
    DeploymentError,
    ModelStoreRef,
    Selectors,
    Slo,
)
from infra.local.config import ControllerConfig


def kubernetes_description() -> Deployment:
    return Deployment(
        platform="kubernetes",
        endpoint="http://router.example:80",
        zones=("us-east-1a", "us-east-1b"),
        selectors=Selectors("app=recdrill-replica,role=active"),
        model_store=ModelStoreRef(url="s3://models/prefix", dr_url="s3://dr/prefix"),
        slo=Slo.for_platform("kubernetes"),
        environment="staging",
        replicas_per_zone=2,
        standby_replicas=1,
    )


def local_description() -> dict:
    cfg = ControllerConfig(workdir="/tmp/env", store="file:///tmp/store", model="m", token="t")
    return cfg.deployment()


def test_kubernetes_description_has_exactly_the_contract_keys_and_round_trips():
    d = kubernetes_description()
    body = json.loads(json.dumps(d.to_json()))
    assert tuple(body) == DESCRIPTION_KEYS
    assert Deployment.from_json(body) == d


def test_local_description_adds_control_and_its_extras_and_round_trips():
    body = local_description()
    d = Deployment.from_json(json.loads(json.dumps(body)))
    assert d.control == Control(url=body["control"]["url"], token="t")
    assert set(body) - set(DESCRIPTION_KEYS) == {"control", "router_options", "workdir"}
    assert d.to_json() == body
    assert d.slo.rto_s == RTO_S["local"] and d.active_replicas == 6


def test_slo_defaults_differ_only_in_the_recovery_target():
    local, kube = Slo.for_platform("local"), Slo.for_platform("kubernetes")
    assert (local.rto_s, kube.rto_s) == (30.0, 300.0)
    assert {**local.to_json(), "rto_s": 0} == {**kube.to_json(), "rto_s": 0}
    parsed = Deployment.from_json({**kubernetes_description().to_json(), "slo": {"p99_ms": 90}})
    assert parsed.slo == Slo(p99_ms=90.0, rto_s=300.0)


def _broken(path: str, value: object) -> dict:
    body = copy.deepcopy(local_description())
    *parents, leaf = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("endpoint", KeyError, "'endpoint' is missing"),
        ("platform", "mesos", "'platform' must be one of"),
        ("endpoint", "router:80", "'endpoint' must be an http(s) URL"),
        ("zones", [], "'zones' must be a non-empty list"),
        ("zones", ["a", "a"], "'zones' repeats a zone"),
        ("zones", "local-a", "'zones' must be a non-empty list"),
        ("selectors.active", "", "'selectors.active' must be a non-empty string"),
        ("model_store", "file:///x", "'model_store' must be an object"),
        ("model_store.url", None, "'model_store.url' must be a non-empty string"),
        ("replicas_per_zone", 0, "'replicas_per_zone' must be an integer of at least 1"),
        ("standby_replicas", True, "'standby_replicas' must be an integer"),
        ("slo.availability", 1.5, "'slo.availability' must be within [0, 1]"),
        ("slo.p99_ms", "fast", "'slo.p99_ms' must be a finite number"),
        ("slo.rto_s", 0, "'slo.rto_s' must be positive"),
        ("slo.p95_ms", 10, "'slo.p95_ms' is not an SLO key"),
        ("control", KeyError, "'control' is required for a local deployment"),
        ("control.token", "", "'control.token' must be a non-empty string"),
    ],
)
def test_a_bad_description_is_refused_naming_the_key(path, value, named):
    with pytest.raises(DeploymentError) as caught:
        Deployment.from_json(_broken(path, value))
    assert named in str(caught.value)


def test_load_names_the_file(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(DeploymentError, match="does not exist"):
        Deployment.load(missing)
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(_broken("zones", [])))
    with pytest.raises(DeploymentError, match=f"{path}: deployment description: 'zones'"):
        Deployment.load(path)
    path.write_text(json.dumps(local_description()))
    assert Deployment.load(path).platform == "local"


def test_eks_fis_templates_round_trip_and_name_only_known_zones():
    templates = {"us-east-1a": "EXTa1", "us-east-1b": "EXTb2"}
    d = Deployment.from_json({**kubernetes_description().to_json(), "fis_templates": templates})
    assert d.fis_templates == templates and d.extras == {}
    assert tuple(d.to_json()) == (*DESCRIPTION_KEYS, "fis_templates")
    body = kubernetes_description().to_json()
    with pytest.raises(DeploymentError, match="'fis_templates' names 'us-east-1c'"):
        Deployment.from_json({**body, "fis_templates": {"us-east-1c": "EXTc"}})
    with pytest.raises(DeploymentError, match=r"'fis_templates\.us-east-1a' must be a non-empty"):
        Deployment.from_json({**body, "fis_templates": {"us-east-1a": 7}})
