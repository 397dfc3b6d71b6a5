"""Region loss on a cluster against the fake Kubernetes API server: the primary's routers
cut off from their clients (the NLB, the readiness canary), and put back.

``netpol.ingress_allowed`` evaluates the additive policy semantics over the policies the
Pulumi program renders, so these tests show who can still reach a router, not only what
was sent.
"""

from __future__ import annotations

import copy

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.deployment import configuration_for
from experiments.faults import aws
from experiments.faults import kubernetes as k8s
from experiments.faults.kubernetes_regions import REGION_DOWN, REGION_LABEL, ROUTER_POLICY
from experiments.rollback import REVERTERS, rollback_state
from infra.k8s.pods import replica_labels, router_labels
from tests.experiments.fakes import deployment
from tests.experiments.netpol import Peer, ingress_allowed

PRIMARY, DR = "eu-west-1", "eu-central-1"
# The internal NLB's address (IP targets) and the readiness canary's, inside the VPC.
ROUTER, ACTIVE = router_labels(), replica_labels("active")
NLB = Peer(port=8080, port_name="http", ip="10.0.3.7")
ROUTER_POD = Peer(port=8080, port_name="http", pod_labels=router_labels())


def _regions() -> list[dict]:
    def region(name: str, role: str, store: str) -> dict:
        zones = [f"{name}a", f"{name}b"]
        endpoint = f"http://{role}.internal"
        return {
            "name": name,
            "role": role,
            "endpoint": endpoint,
            "zones": zones,
            "store_url": store,
        }

    return [region(PRIMARY, "primary", "s3://models/recdrill"), region(DR, "dr", "s3://dr/m")]


def _label_nodes(cluster, region: str | None) -> None:
    for node in cluster.nodes.values():
        labels = node["metadata"]["labels"]
        labels.pop(REGION_LABEL, None)
        if region:
            labels[REGION_LABEL] = region


@pytest.fixture
def config(tmp_path, cluster):
    _label_nodes(cluster, PRIMARY)
    body = deployment("kubernetes", regions=_regions())
    conf = configuration_for(body, tmp_path / "deployment.json")
    return {**conf, "state_file": str(tmp_path / "state.json")}


def _router_reachable(cluster) -> bool:
    return ingress_allowed(list(cluster.policies.values()), "recdrill", ROUTER, NLB)


def _patches(cluster) -> list[str]:
    return [r["path"] for r in cluster.requests if r["method"] in ("PATCH", "DELETE", "POST")]


def test_region_down_cuts_the_routers_off_their_clients_and_nothing_else(cluster, config):
    before = copy.deepcopy(cluster.policies)
    assert _router_reachable(cluster)
    out = k8s.region_down("primary", configuration=config, secrets=None)
    assert out["region"] == PRIMARY and out["policy"] == f"recdrill/{ROUTER_POLICY}"
    assert out["ingress_rules_removed"] == 1
    assert not _router_reachable(cluster), "the NLB and the canary no longer reach a router"
    assert _patches(cluster) == [
        f"/apis/networking.k8s.io/v1/namespaces/recdrill/networkpolicies/{ROUTER_POLICY}"
    ]
    others = {n: p for n, p in cluster.policies.items() if n != ROUTER_POLICY}
    assert others == {n: p for n, p in before.items() if n != ROUTER_POLICY}
    policies = list(cluster.policies.values())
    assert ingress_allowed(policies, "recdrill", ACTIVE, ROUTER_POD), "routers keep the replicas"
    assert len(cluster.pods) == 7, "no pod deleted: the routers stay up, only unreachable"


def test_region_up_restores_exactly_the_original_and_a_second_up_is_harmless(cluster, config):
    original = copy.deepcopy(cluster.policies[ROUTER_POLICY])
    k8s.region_down("primary", configuration=config, secrets=None)
    assert k8s.region_up("primary", configuration=config, secrets=None) == [
        f"recdrill/{ROUTER_POLICY}"
    ]
    assert cluster.policies[ROUTER_POLICY] == original
    assert _router_reachable(cluster)
    patches = len(_patches(cluster))
    assert k8s.region_up("primary", configuration=config, secrets=None) == []
    assert len(_patches(cluster)) == patches, "nothing pending: no second patch"


def test_the_rollback_command_restores_after_a_drill_that_died_in_the_fault(cluster, config):
    original = copy.deepcopy(cluster.policies[ROUTER_POLICY])
    k8s.region_down("primary", configuration=config, secrets=None)
    reverted, failed = rollback_state(config["state_file"])
    assert failed == [] and len(reverted) == 1
    assert cluster.policies[ROUTER_POLICY] == original
    assert state.pending(config["state_file"], REGION_DOWN) == []
    assert k8s.region_up("primary", configuration=config, secrets=None) == []


def test_an_undo_of_a_policy_already_back_patches_nothing(cluster, config):
    k8s.region_down("primary", configuration=config, secrets=None)
    [entry] = state.pending(config["state_file"], REGION_DOWN)
    assert REVERTERS[REGION_DOWN](**entry["params"]) is True
    patches = len(_patches(cluster))
    assert REVERTERS[REGION_DOWN](**entry["params"]) is False
    assert len(_patches(cluster)) == patches


def test_the_intent_is_recorded_before_the_patch(cluster, config, monkeypatch):
    at_record = []
    real = state.record

    def record(path, kind, **params):
        at_record.append(copy.deepcopy(cluster.policies[ROUTER_POLICY]["spec"]["ingress"]))
        return real(path, kind, **params)

    monkeypatch.setattr(state, "record", record)
    k8s.region_down("primary", configuration=config, secrets=None)
    assert at_record and at_record[0], "the policy still admitted clients when recorded"
    [entry] = state.pending(config["state_file"], REGION_DOWN)
    assert entry["params"]["spec"]["ingress"] == at_record[0]
    assert entry["params"]["region"] == PRIMARY and entry["params"]["ns"] == "recdrill"


def test_a_down_interrupted_after_its_record_is_rolled_back_without_a_patch(
    cluster, config, monkeypatch
):
    real = state.record

    def record_then_die(path, kind, **params):
        real(path, kind, **params)
        raise KeyboardInterrupt

    monkeypatch.setattr(state, "record", record_then_die)
    with pytest.raises(KeyboardInterrupt):
        k8s.region_down("primary", configuration=config, secrets=None)
    monkeypatch.setattr(state, "record", real)
    assert _router_reachable(cluster) and _patches(cluster) == []
    reverted, failed = rollback_state(config["state_file"])
    assert failed == [] and len(reverted) == 1
    assert _patches(cluster) == [], "the policy already had its spec: nothing to restore"


@pytest.mark.parametrize("verb", ["region_down", "region_up"])
def test_the_dr_role_is_refused_and_nothing_touched(cluster, config, verb):
    with pytest.raises(ActivityFailed, match="role 'dr'"):
        getattr(k8s, verb)("dr", configuration=config, secrets=None)
    assert cluster.requests == []
    assert state.pending(config["state_file"], REGION_DOWN) == []


@pytest.mark.parametrize("driver", [k8s, aws])
def test_a_deployment_without_regions_is_refused(cluster, tmp_path, driver):
    single = configuration_for(deployment("kubernetes"), tmp_path / "deployment.json")
    single["state_file"] = str(tmp_path / "state.json")
    with pytest.raises(ActivityFailed, match="no regions"):
        driver.region_down("primary", configuration=single, secrets=None)
    assert cluster.requests == []


@pytest.mark.parametrize("region", [DR, None])
def test_a_cluster_outside_the_primary_region_is_refused(cluster, config, region):
    _label_nodes(cluster, region)
    with pytest.raises(ActivityFailed, match=f"not the primary region {PRIMARY}"):
        k8s.region_down("primary", configuration=config, secrets=None)
    assert _patches(cluster) == [] and _router_reachable(cluster)
    assert state.pending(config["state_file"], REGION_DOWN) == []


def test_the_undo_refuses_a_cluster_in_another_region_and_stays_pending(cluster, config):
    k8s.region_down("primary", configuration=config, secrets=None)
    _label_nodes(cluster, DR)  # the current context now points at the DR cluster
    with pytest.raises(ActivityFailed, match="not the primary region"):
        k8s.region_up("primary", configuration=config, secrets=None)
    assert not _router_reachable(cluster)
    assert len(state.pending(config["state_file"], REGION_DOWN)) == 1


def test_another_policy_admitting_clients_is_refused_because_policies_add_up(cluster, config):
    extra = {
        "metadata": {"name": "router-from-anywhere", "namespace": "recdrill"},
        "spec": {"podSelector": {"matchLabels": ROUTER}, "policyTypes": ["Ingress"]},
    }
    extra["spec"]["ingress"] = [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]
    cut = copy.deepcopy(cluster.policies)
    cut[ROUTER_POLICY]["spec"]["ingress"] = []
    assert ingress_allowed([*cut.values(), extra], "recdrill", ROUTER, NLB), "why it refuses"
    cluster.policies["router-from-anywhere"] = extra
    with pytest.raises(ActivityFailed, match="router-from-anywhere"):
        k8s.region_down("primary", configuration=config, secrets=None)
    assert _patches(cluster) == []


def test_a_second_down_is_refused_so_the_original_spec_is_never_lost(cluster, config):
    original = copy.deepcopy(cluster.policies[ROUTER_POLICY])
    k8s.region_down("primary", configuration=config, secrets=None)
    with pytest.raises(ActivityFailed, match="already down"):
        k8s.region_down("primary", configuration=config, secrets=None)
    k8s.region_up("primary", configuration=config, secrets=None)
    assert cluster.policies[ROUTER_POLICY] == original


def test_a_missing_router_policy_is_named(cluster, config):
    del cluster.policies[ROUTER_POLICY]
    with pytest.raises(ActivityFailed, match=f"recdrill/{ROUTER_POLICY}"):
        k8s.region_down("primary", configuration=config, secrets=None)


def test_the_aws_driver_runs_the_same_steering_drill(cluster, config):
    aws.region_down("primary", configuration=config, secrets=None)
    assert not _router_reachable(cluster)
    aws.region_up("primary", configuration=config, secrets=None)
    assert _router_reachable(cluster)


def test_a_policy_already_cut_by_a_lost_run_is_refused_not_recorded_as_the_original(
    cluster, config
):
    cluster.policies[ROUTER_POLICY]["spec"]["ingress"] = []  # a crashed run's state file is gone
    with pytest.raises(ActivityFailed, match="admits no clients"):
        k8s.region_down("primary", configuration=config, secrets=None)
    assert state.pending(config["state_file"], REGION_DOWN) == []
