"""Kubernetes faults and probes against a fake API server speaking the real REST paths."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.kubernetes import actions, probes
from experiments.rollback import rollback_state
from tests.experiments.fake_kubernetes import ACTIVE, ZONE, fake_kubernetes

SELECTOR = ",".join(f"{k}={v}" for k, v in ACTIVE.items())


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("CHAOSTOOLKIT_IN_POD", raising=False)
    with fake_kubernetes() as fake:
        monkeypatch.setenv("KUBERNETES_HOST", fake.server.url)
        yield fake


def _calls(cluster, method: str, prefix: str = "") -> list[dict]:
    return [r for r in cluster.requests if r["method"] == method and r["path"].startswith(prefix)]


def test_zone_down_cordons_the_zone_and_force_deletes_only_its_replicas(tmp_path, cluster):
    state_file = str(tmp_path / "state.json")
    result = actions.zone_down("eu-west-1a", SELECTOR, state_file)
    assert sorted(result["nodes"]) == ["n-a1", "n-a2"]
    assert sorted(result["pods"]) == ["r-a1", "r-a2"]
    assert cluster.nodes["n-a1"]["spec"]["unschedulable"] is True
    assert cluster.nodes["n-b1"]["spec"]["unschedulable"] is False
    assert "router-a" in cluster.pods and "r-b1" in cluster.pods
    deletes = _calls(cluster, "DELETE", "/api/v1/namespaces/recdrill/pods/")
    assert deletes and all(d["body"]["gracePeriodSeconds"] == 0 for d in deletes)
    assert not [r for r in cluster.requests if "eviction" in r["path"]]
    assert state.pending(state_file)[0]["params"]["nodes"] == ["n-a1", "n-a2"]


def test_zone_up_uncordons_and_marks_the_state(tmp_path, cluster):
    state_file = str(tmp_path / "state.json")
    actions.zone_down("eu-west-1a", SELECTOR, state_file)
    assert sorted(actions.zone_up("eu-west-1a", state_file)) == ["n-a1", "n-a2"]
    assert cluster.nodes["n-a1"]["spec"]["unschedulable"] is False
    assert state.pending(state_file) == []
    assert sorted(actions.zone_up("eu-west-1a", state_file)) == ["n-a1", "n-a2"]


def test_rollback_state_uncordons_after_a_crash(tmp_path, cluster):
    state_file = tmp_path / "state.json"
    actions.zone_down("eu-west-1a", SELECTOR, str(state_file))
    reverted, failed = rollback_state(state_file)
    assert failed == [] and len(reverted) == 1
    assert not any(n["spec"]["unschedulable"] for n in cluster.nodes.values())


def test_zone_down_of_an_unknown_zone_fails_naming_the_label(tmp_path, cluster):
    with pytest.raises(ActivityFailed, match=f"{ZONE}=mars-1a"):
        actions.zone_down("mars-1a", SELECTOR, str(tmp_path / "state.json"))


def test_store_outage_creates_a_deny_egress_policy_and_restore_deletes_it(tmp_path, cluster):
    state_file = str(tmp_path / "state.json")
    actions.store_outage(SELECTOR, state_file)
    policy = cluster.policies[actions.OUTAGE_POLICY]
    assert policy["spec"]["podSelector"] == {"matchLabels": ACTIVE}
    assert policy["spec"]["policyTypes"] == ["Egress"]
    allowed = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert allowed == {53}
    assert actions.restore_store(state_file) is True
    assert cluster.policies == {}
    assert actions.restore_store(state_file) is False
    assert state.pending(state_file) == []


def test_kill_replicas_deletes_one_matching_pod_with_grace_0(cluster):
    (deleted,) = actions.kill_replicas(SELECTOR)
    assert deleted.startswith("r-") and deleted not in cluster.pods
    (delete,) = _calls(cluster, "DELETE")
    assert delete["body"]["gracePeriodSeconds"] == 0


def test_kill_replicas_with_no_match_fails(cluster):
    with pytest.raises(ActivityFailed, match="no pod"):
        actions.kill_replicas("app=nothing")


def test_ready_capacity_counts_ready_pods_by_their_node_zone(cluster):
    config = {"zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]}
    capacity = probes.ready_capacity(SELECTOR, configuration=config)
    assert capacity == {
        "ready": 3,
        "zones": {"eu-west-1a": 2, "eu-west-1b": 1, "eu-west-1c": 0},
        "pods": 4,
    }


def test_wait_for_capacity_fails_after_the_rto_naming_short_zones(cluster):
    with pytest.raises(ActivityFailed, match="eu-west-1b"):
        probes.wait_for_capacity(SELECTOR, min_per_zone=2, timeout_s=0.2, interval_s=0.05)
    got = probes.wait_for_capacity(SELECTOR, min_per_zone=1, timeout_s=5)
    assert got["ready"] == 3
