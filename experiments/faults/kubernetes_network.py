"""Kubernetes store outage: empty the stack's allowing egress policy, and put it back.

NetworkPolicies add up: a new deny policy takes nothing away that ``replicas-to-store``
allows, so the outage removes that policy's egress rules (DNS stays allowed by
``allow-dns``) and keeps the original spec in the state file for the rollback.
"""

from __future__ import annotations

from typing import Any

from chaosk8s import create_k8s_api_client
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from kubernetes import client
from kubernetes.client.rest import ApiException

from experiments import state
from experiments.faults.common import setting, state_file
from experiments.faults.kubernetes_api import namespace

STORE_CUT = "kubernetes.store_policy_cut"
STORE_POLICY = "replicas-to-store"


def _networking(secrets: Secrets) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(create_k8s_api_client(secrets))


def store_outage(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Cut the replicas off the model store by emptying the stack's allowing egress policy.

    Policies add up, so only removing the allowing rule takes the store away. The
    original spec of ``store_policy`` (default ``replicas-to-store``) is kept in the
    state file; ``restore_store`` puts it back. DNS stays allowed by ``allow-dns``.
    """
    ns = namespace(configuration)
    name = str(setting(configuration, "store_policy", STORE_POLICY))
    api = _networking(secrets)
    try:
        original = api.read_namespaced_network_policy(name, ns)
    except ApiException as exc:
        raise ActivityFailed(f"cannot read NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    spec = api.api_client.sanitize_for_serialization(original.spec)
    if "Egress" not in spec.get("policyTypes", []):
        raise ActivityFailed(f"NetworkPolicy {ns}/{name} has no egress rules to cut")
    state.record(state_file(configuration), STORE_CUT, ns=ns, name=name, spec=spec)
    try:
        api.patch_namespaced_network_policy(name, ns, {"spec": {"egress": []}})
    except ApiException as exc:
        raise ActivityFailed(f"cannot cut NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    return {"policy": f"{ns}/{name}", "egress_rules_removed": len(spec.get("egress") or [])}


def undo_store_cut(ns: str, name: str, spec: dict[str, Any], secrets: Secrets = None) -> bool:
    """Put the recorded spec back; False when the policy already has it."""
    return restore_policy(_networking(secrets), ns, name, spec)


def restore_policy(api: client.NetworkingV1Api, ns: str, name: str, spec: dict[str, Any]) -> bool:
    """Patch NetworkPolicy ``ns/name`` back to ``spec``; False when it already has it, so
    restoring twice is harmless."""
    try:
        current = api.read_namespaced_network_policy(name, ns)
        if api.api_client.sanitize_for_serialization(current.spec) == spec:
            return False
        api.patch_namespaced_network_policy(name, ns, {"spec": spec})
    except ApiException as exc:
        raise ActivityFailed(f"cannot restore NetworkPolicy {ns}/{name}: {exc.reason}") from exc
    return True


def restore_store(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Restore every egress policy ``store_outage`` cut (idempotent)."""
    path, restored = state_file(configuration), []
    for entry in state.pending(path, STORE_CUT):
        if undo_store_cut(**entry["params"], secrets=secrets):
            restored.append(f"{entry['params']['ns']}/{entry['params']['name']}")
        state.mark_reverted(path, entry["id"])
    return restored
