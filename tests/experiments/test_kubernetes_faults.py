"""Kubernetes faults against a fake API server speaking the real REST paths.

The fake behaves like the API where the faults depend on it (selectors, namespaces,
patch content types), and ``netpol.egress_allowed`` evaluates the additive policy
semantics, so these tests show what a fault really blocks, not only what it sent.
"""

from __future__ import annotations

import httpx
import pytest
from chaosk8s.node.actions import uncordon_node
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.deployment import configuration_for
from experiments.faults import kubernetes as k8s
from experiments.faults.kubernetes_network import STORE_POLICY
from experiments.rollback import rollback_state
from tests.experiments.fake_kubernetes import ACTIVE, ZONE, pod
from tests.experiments.fakes import deployment
from tests.experiments.netpol import Peer, egress_allowed

SELECTOR = ",".join(f"{k}={v}" for k, v in ACTIVE.items())
S3 = Peer(port=443, ip="52.218.1.10")
DNS = Peer(
    port=53,
    protocol="UDP",
    pod_labels={"k8s-app": "kube-dns"},
    namespace_labels={"kubernetes.io/metadata.name": "kube-system"},
)


@pytest.fixture
def config(tmp_path):
    body = deployment("kubernetes", replicas_per_zone=1)
    conf = configuration_for(body, tmp_path / "deployment.json")
    return {**conf, "active_replicas": 3, "state_file": str(tmp_path / "state.json")}


def _calls(cluster, method: str, prefix: str = "") -> list[dict]:
    return [r for r in cluster.requests if r["method"] == method and r["path"].startswith(prefix)]


def _replica_may_reach(cluster, peer: Peer) -> bool:
    return egress_allowed(list(cluster.policies.values()), "recdrill", ACTIVE, peer)


def test_the_evaluator_shows_why_an_added_deny_policy_cuts_nothing(cluster):
    policies = list(cluster.policies.values())
    assert egress_allowed(policies, "recdrill", ACTIVE, S3)
    deny = {
        "metadata": {"name": "deny", "namespace": "recdrill"},
        "spec": {"podSelector": {"matchLabels": ACTIVE}, "policyTypes": ["Egress"], "egress": []},
    }
    assert egress_allowed([*policies, deny], "recdrill", ACTIVE, S3), "policies add up"
    assert not egress_allowed([deny], "recdrill", ACTIVE, S3)


def test_store_outage_really_cuts_the_replicas_off_the_store_and_restore_reconnects(
    cluster, config
):
    original = cluster.policies[STORE_POLICY]["spec"]["egress"]
    assert _replica_may_reach(cluster, S3)
    k8s.store_outage(configuration=config)
    assert not _replica_may_reach(cluster, S3), "replicas still reach the store"
    assert _replica_may_reach(cluster, DNS), "DNS stays allowed by allow-dns"
    (record,) = state.pending(config["state_file"])
    assert record["params"]["spec"]["egress"] == original
    assert k8s.restore_store(configuration=config) == ["recdrill/replicas-to-store"]
    assert _replica_may_reach(cluster, S3)
    assert cluster.policies[STORE_POLICY]["spec"]["egress"] == original
    assert k8s.restore_store(configuration=config) == []
    (patch, *_) = _calls(cluster, "PATCH", "/apis/networking.k8s.io/")
    assert patch["headers"]["Content-Type"] == "application/strategic-merge-patch+json"


def test_store_outage_is_undone_by_the_rollback_command_after_a_crash(cluster, config):
    k8s.store_outage(configuration=config)
    reverted, failed = rollback_state(config["state_file"])
    assert failed == [] and len(reverted) == 1
    assert _replica_may_reach(cluster, S3)


def test_store_outage_without_the_stack_policy_fails_naming_it(cluster, config):
    del cluster.policies[STORE_POLICY]
    with pytest.raises(ActivityFailed, match="recdrill/replicas-to-store"):
        k8s.store_outage(configuration=config)
    assert state.pending(config["state_file"]) == []


def test_zone_down_takes_every_recdrill_pod_on_the_zone_nodes_and_taints_them(cluster, config):
    result = k8s.zone_down("eu-west-1a", configuration=config)
    assert result["nodes"] == ["n-a1", "n-a2"]
    assert result["pods"] == ["r-a1", "r-a2", "router-a", "standby-a"]
    assert sorted(cluster.pods) == ["r-b1", "r-b2", "router-b"]
    patched = sorted(r["path"].rsplit("/", 1)[1] for r in _calls(cluster, "PATCH", "/api/v1/nodes"))
    assert patched == ["n-a1", "n-a2"]
    for name in ("n-a1", "n-a2"):
        spec = cluster.nodes[name]["spec"]
        assert spec["unschedulable"] is True and k8s.ZONE_TAINT in spec["taints"]
    assert "taints" not in cluster.nodes["n-b1"]["spec"]
    deletes = _calls(cluster, "DELETE", "/api/v1/namespaces/recdrill/pods/")
    assert len(deletes) == 4 and all(d["body"]["gracePeriodSeconds"] == 0 for d in deletes)
    assert not [r for r in cluster.requests if "eviction" in r["path"]]


def test_zone_up_removes_exactly_what_zone_down_added(cluster, config):
    cluster.nodes["n-a2"]["spec"]["unschedulable"] = True  # cordoned by someone else before
    cluster.nodes["n-a2"]["spec"]["taints"] = [{"key": "gpu", "effect": "NoSchedule"}]
    k8s.zone_down("eu-west-1a", configuration=config)
    assert sorted(k8s.zone_up("eu-west-1a", configuration=config)) == ["n-a1", "n-a2"]
    assert cluster.nodes["n-a1"]["spec"] == {"unschedulable": False, "taints": []}
    assert cluster.nodes["n-a2"]["spec"] == {
        "unschedulable": True,
        "taints": [{"key": "gpu", "effect": "NoSchedule"}],
    }
    assert state.pending(config["state_file"]) == []
    assert k8s.zone_up("eu-west-1a", configuration=config) == []


def test_rollback_state_untaints_and_uncordons_after_a_crash(cluster, config):
    k8s.zone_down("eu-west-1a", configuration=config)
    reverted, failed = rollback_state(config["state_file"])
    assert failed == [] and len(reverted) == 1
    for n in cluster.nodes.values():
        assert not n["spec"]["unschedulable"] and not n["spec"].get("taints")


def test_zone_down_of_an_unknown_zone_fails_naming_the_label(cluster, config):
    with pytest.raises(ActivityFailed, match=f"{ZONE}=mars-1a"):
        k8s.zone_down("mars-1a", configuration=config)


def test_nothing_returns_to_a_lost_zone_until_it_is_back(cluster, config):
    cluster.replace_deleted = True
    k8s.zone_down("eu-west-1a", configuration=config)
    assert {p["spec"]["nodeName"] for p in cluster.pods.values()} == {"n-b1"}
    with pytest.raises(
        ActivityFailed, match=r"nodes still cordoned or tainted: \['n-a1', 'n-a2'\]"
    ):
        k8s.wait_for_zone_return("eu-west-1a", 0.2, configuration=config)
    k8s.zone_up("eu-west-1a", configuration=config)
    back = k8s.wait_for_zone_return("eu-west-1a", 1, configuration=config)
    assert back["ready"] >= 3
    assert back["zones"]["eu-west-1a"] == 0, "Kubernetes does not move replicas back by itself"


def test_uncordon_by_name_patches_only_that_node(cluster):
    for n in cluster.nodes.values():
        n["spec"]["unschedulable"] = True
    assert uncordon_node(name="n-a2") == ["n-a2"]
    patched = [r["path"] for r in _calls(cluster, "PATCH")]
    assert patched == ["/api/v1/nodes/n-a2"]
    assert [n for n, v in cluster.nodes.items() if not v["spec"]["unschedulable"]] == ["n-a2"]


def test_pod_lists_stay_in_their_namespace(cluster, config):
    cluster.pods["shop-r"] = pod("shop-r", "n-a1", ACTIVE, ns="shop")
    k8s.zone_down("eu-west-1a", configuration=config)
    assert "shop-r" in cluster.pods
    assert k8s.ready_capacity(SELECTOR, configuration=config)["pods"] == 2


def test_the_fake_refuses_a_patch_without_a_patch_content_type(cluster):
    resp = httpx.patch(
        f"{cluster.server.url}/api/v1/nodes/n-a1", json={"spec": {"unschedulable": True}}
    )
    assert resp.status_code == 415
    assert cluster.nodes["n-a1"]["spec"]["unschedulable"] is False


def test_kill_replicas_deletes_one_matching_pod_with_grace_0(cluster, config):
    (deleted,) = k8s.kill_replicas(SELECTOR, configuration=config)
    assert deleted.startswith("r-") and deleted not in cluster.pods
    (delete,) = _calls(cluster, "DELETE")
    assert delete["body"]["gracePeriodSeconds"] == 0


def test_replacement_waits_for_a_new_ready_pod(cluster, config):
    del cluster.pods["r-b2"]  # the unready one: killing it would take no ready capacity
    k8s.kill_replicas(SELECTOR, configuration=config)
    with pytest.raises(ActivityFailed, match="not replaced within"):
        k8s.wait_for_replacement(0.2, configuration=config)
    cluster.replace_deleted = True
    k8s.kill_replicas(SELECTOR, configuration=config)
    assert k8s.wait_for_replacement(1, configuration=config)["ready"] >= 2


def test_restart_fails_when_a_restarted_pod_never_comes_back(cluster, config):
    config = {**config, "slo_rto_s": 0.2}
    with pytest.raises(ActivityFailed, match="not replaced within"):
        k8s.restart_replicas(SELECTOR, count=1, configuration=config)
    cluster.replace_deleted = True
    assert len(k8s.restart_replicas(SELECTOR, count=2, configuration=config)) == 2


def test_restart_without_waiting_notes_every_pod_it_deleted(cluster, config):
    deleted = k8s.restart_replicas(SELECTOR, count=2, wait_ready=False, configuration=config)
    (note,) = state.notes(config["state_file"], k8s.REPLACED)
    assert note["params"]["victims"] == deleted and len(deleted) == 2
    assert sorted(note["params"]["pods_before"]) == ["r-a1", "r-a2", "r-b1", "r-b2"]


def test_kill_replicas_with_no_match_fails(cluster, config):
    with pytest.raises(ActivityFailed, match="no pod"):
        k8s.kill_replicas("app=nothing", configuration=config)


def test_ready_capacity_counts_ready_pods_by_their_node_zone(cluster, config):
    capacity = k8s.ready_capacity(SELECTOR, configuration=config)
    assert capacity == {
        "ready": 3,
        "zones": {"eu-west-1a": 2, "eu-west-1b": 1, "eu-west-1c": 0},
        "pods": 4,
    }


def test_wait_for_capacity_fails_after_the_rto_naming_short_zones(cluster, config):
    with pytest.raises(ActivityFailed, match="eu-west-1b"):
        k8s.wait_for_capacity(SELECTOR, min_per_zone=2, timeout_s=0.2, configuration=config)
    config = {**config, "zones": ["eu-west-1a", "eu-west-1b"]}
    got = k8s.wait_for_capacity(SELECTOR, min_per_zone=1, timeout_s=5, configuration=config)
    assert got["ready"] == 3
