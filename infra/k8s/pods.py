"""Pod templates: the hardening, probes and placement every recdrill workload shares.

Plain dicts in Kubernetes' own JSON shape, so the same objects are handed to
pulumi-kubernetes and validated against the Kubernetes schemas in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from contracts.resources import kubernetes_replica_resources
from serving.replica.settings import ReplicaSettings
from serving.router.cli import router_argv

HTTP_PORT = 8080
CACHE_DIR = "/var/cache/recdrill"
RUN_AS = 10001
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
GPU = "nvidia.com/gpu"
REPLICA_APP = "recdrill-replica"
ROUTER_APP = "recdrill-router"
NAME_LABEL = "app.kubernetes.io/name"
ROLE_LABEL = "recdrill.io/role"
ZONE_POD_LABEL = "recdrill.io/zone"
PART_OF = {"app.kubernetes.io/part-of": "recdrill"}


@dataclass(frozen=True)
class PodSettings:
    """What the templates need from the environment spec (kept small for tests)."""

    namespace: str
    image: pulumi.Input[str]
    store_url: str
    model: str
    zone_label: str
    gpus_per_replica: int
    store_endpoint_url: str | None = None
    aws_region: str | None = None
    serving_priority_class: str = "recdrill-serving"
    placeholder_priority_class: str = "recdrill-standby-placeholder"
    replica_service_account: str = "recdrill-replica"
    router_service_account: str = "recdrill-router"


def replica_labels(role: str) -> dict[str, str]:
    return {NAME_LABEL: REPLICA_APP, ROLE_LABEL: role, **PART_OF}


def router_labels() -> dict[str, str]:
    return {NAME_LABEL: ROUTER_APP, **PART_OF}


def selector_string(labels: dict[str, str]) -> str:
    """The equality-form label selector the experiments use (contract 2)."""
    return ",".join(f"{k}={v}" for k, v in labels.items() if k != "app.kubernetes.io/part-of")


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probes() -> dict[str, Any]:
    """Probe timings from measured latency, not from wishes.

    bench.serving (docs/serving.md) measured a saturated replica's p99 at 199 ms on a
    quiet machine and 351 ms on a loaded one; /readyz and /healthz queue behind the same
    requests. A 1 s timeout every 1 s took saturated replicas out of the pool exactly
    when they were needed, and a 2 s liveness timeout restarted them (a model reload).
    So: readiness times out at 2 s (≈ 6× the worst measured p99) every 2 s and needs 3
    misses, so a hung replica leaves the pool within ~6-8 s, while the router's own
    health checks and retries cover the gap. Liveness times out at 5 s and needs 6
    misses 10 s apart: only a replica silent for a minute is restarted.
    """
    return {
        # Model download + verification may take a while; liveness waits for it.
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 90,
            "timeoutSeconds": 2,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 3,
            "successThreshold": 1,
            "timeoutSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 6,
            "timeoutSeconds": 5,
        },
    }


def gpu_resources(gpus: int) -> dict[str, Any]:
    """A replica's requests and limits, from the contract the local cgroups share."""
    return kubernetes_replica_resources(gpus, GPU)


def gpu_tolerations(gpus: int) -> list[dict[str, Any]]:
    return [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}] if gpus else []


def zone_spread(zone_label: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Spread across zones without the cordoned-zone trap.

    With ``whenUnsatisfiable: DoNotSchedule`` a cordoned zone still counts as a domain
    with 0 pods (kubernetes#106127), so during a zone-loss drill the replacement pods
    stay Pending: every other zone already has more. ``ScheduleAnyway`` keeps the spread
    as a strong preference and lets replacements land in the surviving zones.
    """
    return [
        {
            "maxSkew": 1,
            "topologyKey": zone_label,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels},
        },
    ]


def _zone_env(s: PodSettings, zone: str | None) -> dict[str, Any]:
    """The replica's zone: explicit for zone-pinned pods. Unpinned (standby) pods read the
    pod label that the alpha PodTopologyLabels admission would copy from the node; it is
    empty where that is off, and the router reads zones from the EndpointSlices anyway."""
    if zone is not None:
        return {"name": "RECDRILL_ZONE", "value": zone}
    return {
        "name": "RECDRILL_ZONE",
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{s.zone_label}']"}},
    }


def _replica_env(s: PodSettings, zone: str | None) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        _zone_env(s, zone),
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {
            "name": "RECDRILL_ADMIN_TOKEN",
            "valueFrom": {
                "secretKeyRef": {"name": "recdrill-admin", "key": "token", "optional": True}
            },
        },
        {"name": "HOME", "value": "/tmp"},
    ]
    if s.store_endpoint_url:
        env.append({"name": "RECDRILL_S3_ENDPOINT_URL", "value": s.store_endpoint_url})
    if s.aws_region:
        env.append({"name": "AWS_REGION", "value": s.aws_region})
    return env


def replica_command(s: PodSettings) -> list[str]:
    """The replica CLI (serving.replica); ``$(VAR)`` is expanded by the kubelet from env."""
    return ReplicaSettings(
        store=s.store_url,
        model=s.model,
        cache_dir=Path(CACHE_DIR),
        host="0.0.0.0",
        port=HTTP_PORT,
        zone="$(RECDRILL_ZONE)",
        replica_id="$(POD_NAME)",
        # Inside terminationGracePeriodSeconds (30) after the 5 s preStop sleep.
        drain_grace_s=15.0,
    ).argv("python")


def zone_pinned_labels(role: str, zone: str) -> dict[str, str]:
    return {**replica_labels(role), ZONE_POD_LABEL: zone}


def replica_pod(s: PodSettings, role: str, zone: str | None = None) -> dict[str, Any]:
    """A replica pod; with ``zone`` it is pinned to that zone's nodes (one active
    Deployment per zone makes per-zone capacity explicit and gives RECDRILL_ZONE)."""
    labels = replica_labels(role) if zone is None else zone_pinned_labels(role, zone)
    placement: dict[str, Any] = (
        {"topologySpreadConstraints": zone_spread(s.zone_label, replica_labels(role))}
        if zone is None
        else {
            "nodeSelector": {s.zone_label: zone},
            "topologySpreadConstraints": zone_spread(s.zone_label, labels)[1:],
        }
    )
    return {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": s.replica_service_account,
            # No Kubernetes API access; IRSA's web identity token is projected separately.
            "automountServiceAccountToken": False,
            "priorityClassName": s.serving_priority_class,
            # preStop 5 s (endpoints drop out) + drain 15 s + margin.
            "terminationGracePeriodSeconds": 30,
            "securityContext": pod_security(),
            **placement,
            "tolerations": gpu_tolerations(s.gpus_per_replica),
            "containers": [
                {
                    "name": "replica",
                    "image": s.image,
                    "command": replica_command(s),
                    "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                    "env": _replica_env(s, zone),
                    "resources": gpu_resources(s.gpus_per_replica),
                    **http_probes(),
                    # Let kube-proxy and the router drop the endpoint before draining.
                    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                    "securityContext": container_security(),
                    "volumeMounts": [
                        {"name": "model-cache", "mountPath": CACHE_DIR},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [
                {"name": "model-cache", "emptyDir": {"sizeLimit": "20Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            ],
        },
    }


def router_command(s: PodSettings, services: dict[str, str], expected_active: int) -> list[str]:
    """The router CLI (serving.router.cli) with EndpointSlice discovery of both pools;
    ``expected_active`` is the active Deployments' replicas (a force-deleted pod leaves
    its EndpointSlice, so the router must know what it was meant to have)."""
    return router_argv(
        "python",
        host="0.0.0.0",
        port=HTTP_PORT,
        model=s.model,
        discovery="kubernetes",
        k8s_mode="endpointslices",
        k8s_namespace=s.namespace,
        k8s_port_name="http",
        k8s_active_service=services["active"],
        k8s_standby_service=services["standby"],
        expected_active=expected_active,
    )


def router_pod(s: PodSettings, services: dict[str, str], expected_active: int) -> dict[str, Any]:
    labels = router_labels()
    return {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": s.router_service_account,
            "priorityClassName": s.serving_priority_class,
            "terminationGracePeriodSeconds": 20,
            "securityContext": pod_security(),
            "topologySpreadConstraints": zone_spread(s.zone_label, labels),
            "containers": [
                {
                    "name": "router",
                    "image": s.image,
                    "command": router_command(s, services, expected_active),
                    "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                    "env": [{"name": "HOME", "value": "/tmp"}],
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "512Mi"},
                        "limits": {"memory": "512Mi"},
                    },
                    **http_probes(),
                    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
                    "securityContext": container_security(),
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
        },
    }


def placeholder_pod(s: PodSettings, zone: str) -> dict[str, Any]:
    """A pause container that holds one replica's GPU slot in ``zone`` until preempted."""
    return {
        "metadata": {
            "labels": {NAME_LABEL: "recdrill-headroom", ROLE_LABEL: "placeholder", **PART_OF}
        },
        "spec": {
            "priorityClassName": s.placeholder_priority_class,
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "securityContext": pod_security(),
            "nodeSelector": {s.zone_label: zone},
            "tolerations": gpu_tolerations(s.gpus_per_replica),
            "containers": [
                {
                    "name": "pause",
                    "image": PAUSE_IMAGE,
                    "resources": gpu_resources(s.gpus_per_replica),
                    "securityContext": container_security(),
                }
            ],
        },
    }
