"""Creates the recommender's Kubernetes objects (infra.k8s.manifests) as typed resources."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.k8s.manifests import ROUTER_SERVICE, all_objects
from infra.k8s.pods import GPU
from infra.k8s.spec import ACTIVE_DEPLOYMENT, WorkloadSpec

_KINDS: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Service"): k8s.core.v1.Service,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("scheduling.k8s.io/v1", "PriorityClass"): k8s.scheduling.v1.PriorityClass,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}


def _hpa_scaled(name: str) -> bool:
    """Deployments whose replica count the HPA owns after creation."""
    return name == "recdrill-router" or name.startswith(f"{ACTIVE_DEPLOYMENT}-")


def _needs_gpu(manifest: dict[str, Any]) -> bool:
    if manifest["kind"] != "Deployment":
        return False
    containers = manifest["spec"]["template"]["spec"]["containers"]
    return any(GPU in (c.get("resources") or {}).get("limits", {}) for c in containers)


def _snake(key: str) -> str:
    """Top-level fields are Python keyword arguments (roleRef -> role_ref); nested dicts
    keep Kubernetes' camelCase, which the provider passes through unchanged."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _endpoint_url(status: Any) -> str:
    """http://<NLB hostname or IP>, or empty while the load balancer is still pending."""
    ingress = (status.load_balancer.ingress or []) if status and status.load_balancer else []
    for entry in ingress:
        host = entry.hostname or entry.ip
        if host:
            return f"http://{host}"
    return ""


class RecommenderWorkloads(pulumi.ComponentResource):
    """Replicas (active + standby), router, and the policies that keep them available."""

    endpoint: pulumi.Output[str]

    def __init__(
        self, name: str, args: WorkloadSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:k8s:RecommenderWorkloads", name, None, opts)
        self.resources: dict[str, pulumi.CustomResource] = {}
        namespace: pulumi.Resource | None = None
        device_plugin: pulumi.Resource | None = None
        for manifest in all_objects(args):
            kind = manifest["kind"]
            meta = manifest["metadata"]
            cls = _KINDS[(manifest["apiVersion"], kind)]
            depends = [namespace] if namespace is not None and meta.get("namespace") else []
            if device_plugin is not None and _needs_gpu(manifest):
                # GPU pods wait until every GPU node advertises nvidia.com/gpu; otherwise
                # the zone whose GPUs register first gets everything (placement race).
                depends.append(device_plugin)
            ignore = ["spec.replicas"] if kind == "Deployment" and _hpa_scaled(meta["name"]) else []
            body = {_snake(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
            resource = cls(
                f"{name}-{kind.lower()}-{meta['name']}",
                **body,
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends, ignore_changes=ignore),
            )
            self.resources[f"{kind}/{meta['name']}"] = resource
            if kind == "Namespace":
                namespace = resource
            if kind == "DaemonSet":
                device_plugin = resource
        router_service = self.resources[f"Service/{ROUTER_SERVICE}"]
        self.endpoint = router_service.status.apply(_endpoint_url)
        self.register_outputs({"endpoint": self.endpoint})
