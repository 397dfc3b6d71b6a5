"""Every Kubernetes object of the recommender, as plain manifests (no Pulumi here)."""

from __future__ import annotations

from typing import Any

from infra.k8s.pods import (
    GPU,
    HTTP_PORT,
    PART_OF,
    container_security,
    placeholder_pod,
    replica_labels,
    replica_pod,
    router_labels,
    router_pod,
)
from infra.k8s.policies import network_policies, policies
from infra.k8s.spec import WorkloadSpec, active_name, meta

ACTIVE_SERVICE = "recdrill-active"
STANDBY_SERVICE = "recdrill-standby"
ROUTER_SERVICE = "recdrill-router"
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
# Placeholders must sit exactly at -10: the Cluster Autoscaler ignores pending pods whose
# priority is below its --expendable-pods-priority-cutoff (default -10), so at -11 they
# would never trigger a scale-up and the "standby" GPUs would simply not exist. At -10
# they still count for scale-up yet are preempted by any serving pod.
PLACEHOLDER_PRIORITY = -10
SERVING_PRIORITY = 1_000_000
# Read by the AWS Load Balancer Controller (installed by infra/k8s/platform.py; without
# it these annotations do nothing): an internal NLB straight to the router pods' IPs.
# The shop frontend runs in the VPC; /metrics and /v1/upstreams never face the internet.
NLB_CLASS = "service.k8s.aws/nlb"
NLB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-attributes": (
        "load_balancing.cross_zone.enabled=true"
    ),
    "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/readyz",
    "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
}
# Pulumi waits for a Deployment to become available; placeholders may legitimately stay
# Pending (their zone's GPUs are in use), so the update must not wait on them.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


def basics(w: WorkloadSpec) -> list[dict[str, Any]]:
    ns = w.pods.namespace
    replica_annotations = (
        {"eks.amazonaws.com/role-arn": w.replica_role_arn} if w.replica_role_arn else None
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta(
                ns,
                None,
                {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            ),
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(w.pods.replica_service_account, ns, annotations=replica_annotations),
        },
        {
            # No IAM role: the router never talks to the store.
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(w.pods.router_service_account, ns),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("recdrill-router-discovery", ns),
            "rules": [
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("recdrill-router-discovery", ns),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "recdrill-router-discovery",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": w.pods.router_service_account, "namespace": ns}
            ],
        },
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": meta(w.pods.serving_priority_class, None),
            "value": SERVING_PRIORITY,
            "globalDefault": False,
            "description": "recdrill replicas and router: preempt standby placeholders",
        },
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": meta(w.pods.placeholder_priority_class, None),
            "value": PLACEHOLDER_PRIORITY,
            "globalDefault": False,
            "preemptionPolicy": "Never",
            "description": "GPU headroom placeholders; -10 so the autoscaler still scales for them",
        },
    ]


def rollout_strategy(spare_slots: int, gpus: int) -> dict[str, Any]:
    """Surge into spare capacity when there is some, else replace one pod at a time.

    A GPU replica can only surge onto a free GPU, and the only GPUs guaranteed free are
    the ones the headroom placeholders hold (serving pods preempt them). With none,
    ``maxSurge: 1, maxUnavailable: 0`` waits forever for a GPU that does not exist.
    """
    if gpus and spare_slots < 1:
        return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def _deployment(
    name: str,
    ns: str,
    replicas: int,
    pod: dict[str, Any],
    annotations: dict[str, str] | None = None,
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, ns, pod["metadata"]["labels"], annotations),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": pod["metadata"]["labels"]},
            "strategy": strategy or rollout_strategy(1, 0),
            "template": pod,
        },
    }


def workloads(w: WorkloadSpec) -> list[dict[str, Any]]:
    ns = w.pods.namespace
    gpus = w.pods.gpus_per_replica
    services = {"active": ACTIVE_SERVICE, "standby": STANDBY_SERVICE}
    objects = []
    for zone in w.zones:
        objects.append(
            _deployment(
                active_name(zone),
                ns,
                w.replicas_per_zone,
                replica_pod(w.pods, "active", zone),
                # Read by the capacity invariants (infra/policy): what one zone loss must
                # leave, and which zone this Deployment holds.
                {
                    "recdrill.io/zone": zone,
                    "recdrill.io/zones": ",".join(w.zones),
                    "recdrill.io/peak-replicas": str(w.peak_replicas),
                },
                rollout_strategy(w.placeholders_per_zone, gpus),
            )
        )
    objects += [
        _deployment(
            "recdrill-replica-standby",
            ns,
            w.standby_replicas,
            replica_pod(w.pods, "standby"),
            strategy=rollout_strategy(w.placeholders_per_zone * len(w.zones), gpus),
        ),
        _deployment(
            "recdrill-router",
            ns,
            w.router_replicas,
            router_pod(w.pods, services, w.active_replicas),
        ),
    ]
    for zone in w.zones if w.placeholders_per_zone else ():
        objects.append(
            _deployment(
                f"recdrill-headroom-{zone}",
                ns,
                w.placeholders_per_zone,
                placeholder_pod(w.pods, zone),
                SKIP_AWAIT,
            )
        )
    return objects


def _service(
    name: str,
    ns: str,
    selector: dict[str, str],
    *,
    headless: bool = True,
    annotations: dict[str, str] | None = None,
    port: int = HTTP_PORT,
    load_balancer_class: str | None = None,
    source_ranges: tuple[str, ...] = (),
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": selector,
        "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
    }
    if headless:
        # Headless: the router sees every replica (EndpointSlices/DNS), no kube-proxy hop.
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = False
    else:
        spec["type"] = "LoadBalancer"
        spec["externalTrafficPolicy"] = "Cluster"
        if load_balancer_class:
            spec["loadBalancerClass"] = load_balancer_class
        if source_ranges:
            spec["loadBalancerSourceRanges"] = list(source_ranges)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, ns, annotations=annotations),
        "spec": spec,
    }


def services(w: WorkloadSpec) -> list[dict[str, Any]]:
    ns = w.pods.namespace
    return [
        _service(ACTIVE_SERVICE, ns, replica_labels("active")),
        _service(STANDBY_SERVICE, ns, replica_labels("standby")),
        _service(
            ROUTER_SERVICE,
            ns,
            router_labels(),
            headless=False,
            annotations=w.load_balancer_annotations or None,
            port=80,
            load_balancer_class=w.load_balancer_class,
            source_ranges=w.cluster_cidrs,
        ),
    ]


def device_plugin() -> dict[str, Any]:
    """The NVIDIA device plugin: advertises nvidia.com/gpu on the GPU nodes."""
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin", **PART_OF}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta("nvidia-device-plugin", "kube-system", labels),
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    # It talks to the kubelet's socket only, never to the API server.
                    "automountServiceAccountToken": False,
                    "nodeSelector": {"recdrill.io/pool": "gpu"},
                    "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "nvidia-device-plugin",
                            "image": DEVICE_PLUGIN_IMAGE,
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "securityContext": {**container_security(), "runAsNonRoot": False},
                            "volumeMounts": [
                                {
                                    "name": "device-plugin",
                                    "mountPath": "/var/lib/kubelet/device-plugins",
                                }
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "device-plugin",
                            "hostPath": {"path": "/var/lib/kubelet/device-plugins"},
                        }
                    ],
                },
            },
        },
    }


def all_objects(w: WorkloadSpec) -> list[dict[str, Any]]:
    """Every object, namespace first (the component makes the rest depend on it), the
    device plugin before the Deployments (the GPU ones wait for it)."""
    plugin = [device_plugin()] if w.device_plugin else []
    return basics(w) + plugin + workloads(w) + services(w) + policies(w) + network_policies(w)
