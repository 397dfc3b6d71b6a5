"""Checks every stack must pass; each test_stack_<env>.py adds its own specifics."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

from contracts.deployment import DESCRIPTION_KEYS, SAFETY_KEYS
from infra.policy.invariants import INVARIANTS
from tests.infra.harness import StackRun

# The EKS version the stacks pin (kubernetes_version) and the newest schema shipped.
K8S_SCHEMA_VERSIONS = ("1.35.0", "1.37.0")


def kubernetes_objects(run: StackRun) -> list[dict[str, Any]]:
    return [
        r.props
        for r in run.resources
        if r.resource_type.startswith("kubernetes:") and "kind" in r.props
    ]


# Prometheus Operator kinds: kubernetes-validate has no schema for CRDs; the monitoring
# tests check them (tests/monitoring/test_k8s_monitoring.py).
OPERATOR_GROUP = "monitoring.coreos.com/"


def validate_manifests(run: StackRun) -> int:
    """Every declared object against the Kubernetes JSON schema, unknown fields refused."""
    objects = [
        o
        for o in kubernetes_objects(run)
        if not str(o.get("apiVersion")).startswith(OPERATOR_GROUP)
    ]
    for obj in objects:
        body = {k: v for k, v in obj.items() if k != "status"}
        for version in K8S_SCHEMA_VERSIONS:
            kubernetes_validate.validate(body, version, strict=True)
    return len(objects)


def assert_invariants_hold(run: StackRun) -> None:
    for name, invariant in INVARIANTS.items():
        assert invariant(run.resources) == [], f"{run.stack}: invariant {name} fails"


def assert_description(run: StackRun, extra: tuple[str, ...] = ()) -> None:
    """``extra``: a region pair's keys (prod: dr_handoff; prod-dr: regions)."""
    # fis_templates only on EKS, where the stack defines the FIS zone-loss templates; the
    # drill-safety keys exactly where the stack file sets them.
    eks = run.config["recdrill:target"] == "eks"
    safety = tuple(k for k in SAFETY_KEYS if f"recdrill:{k}" in run.config)
    fis = ("fis_templates",) if eks else ()
    assert tuple(run.outputs) == DESCRIPTION_KEYS + safety + fis + extra
    spec_zones = run.config["recdrill:zones"]
    assert run.outputs["zones"] == spec_zones
    assert run.outputs["platform"] == "kubernetes"
    assert run.outputs["endpoint"].startswith("http://")
    assert run.outputs["selectors"]["active"] == (
        "app.kubernetes.io/name=recdrill-replica,recdrill.io/role=active"
    )


def deployment(run: StackRun, name: str) -> dict[str, Any]:
    (found,) = run.k8s("Deployment", name)
    return found


def active(run: StackRun, zone: str) -> dict[str, Any]:
    return deployment(run, f"recdrill-replica-active-{zone}")


def assert_replica_pods(run: StackRun, gpus: int) -> None:
    """Probes, drain, hardening, placement and GPU settings of the replica pods."""
    zones = run.config["recdrill:zones"]
    for zone in zones:
        pod = active(run, zone)["spec"]["template"]
        assert pod["metadata"]["labels"]["recdrill.io/zone"] == zone
        assert pod["spec"]["nodeSelector"] == {"topology.kubernetes.io/zone": zone}
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["RECDRILL_ZONE"] == zone
    pods = [active(run, z)["spec"]["template"] for z in zones]
    for pod in [*pods, deployment(run, "recdrill-replica-standby")["spec"]["template"]]:
        role = pod["metadata"]["labels"]["recdrill.io/role"]
        spec = pod["spec"]
        (container,) = spec["containers"]
        assert spec["automountServiceAccountToken"] is False
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["timeoutSeconds"] >= 2
        assert container["livenessProbe"]["timeoutSeconds"] >= 5
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert spec["terminationGracePeriodSeconds"] >= 20
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert any(
            v.get("emptyDir") is not None and v["name"] == "model-cache" for v in spec["volumes"]
        )
        zone_spreads = [
            c
            for c in spec["topologySpreadConstraints"]
            if c["topologyKey"] == "topology.kubernetes.io/zone"
        ]
        # Standby spreads over zones (ScheduleAnyway); active pods are pinned instead.
        assert [c["whenUnsatisfiable"] for c in zone_spreads] == (
            ["ScheduleAnyway"] if role == "standby" else []
        )
        assert "serving.replica" in " ".join(container["command"])
        limits = container["resources"]["limits"]
        if gpus:
            assert limits["nvidia.com/gpu"] == str(gpus)
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
                "tolerations"
            ]
        else:
            assert "nvidia.com/gpu" not in limits


def assert_policies(run: StackRun) -> None:
    pdbs = {p["metadata"]["name"]: p["spec"] for p in run.k8s("PodDisruptionBudget")}
    assert {"recdrill-replica-active", "recdrill-replica-standby", "recdrill-router"} <= set(pdbs)
    assert pdbs["recdrill-router"]["maxUnavailable"] == 1
    hpas = {h["spec"]["scaleTargetRef"]["name"] for h in run.k8s("HorizontalPodAutoscaler")}
    zones = run.config["recdrill:zones"]
    assert hpas == {f"recdrill-replica-active-{z}" for z in zones} | {"recdrill-router"}
    policies = {p["metadata"]["name"]: p["spec"] for p in run.k8s("NetworkPolicy")}
    assert policies["default-deny"]["policyTypes"] == ["Ingress", "Egress"]
    assert policies["default-deny"]["podSelector"] == {}
    router = deployment(run, "recdrill-router")["spec"]["template"]["spec"]
    assert router["containers"][0]["command"][:3] == ["python", "-m", "serving.router"]
    (role,) = run.k8s("Role", "recdrill-router-discovery")
    assert role["rules"] == [
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    priorities = {p["metadata"]["name"]: p["value"] for p in run.k8s("PriorityClass")}
    assert priorities["recdrill-standby-placeholder"] == -10
