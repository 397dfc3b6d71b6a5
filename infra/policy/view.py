"""The resource view every invariant reads, and the helpers they share.

Resources are shaped like pulumi-policy's ``PolicyResource`` (``resource_type``, ``props``
in the engine's camelCase), so the same functions run in the policy pack and in tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

GPU = "nvidia.com/gpu"


class ResourceLike(Protocol):
    resource_type: str
    props: Mapping[str, Any]


Resources = Sequence[ResourceLike]


def of_type(resources: Resources, resource_type: str) -> list[Mapping[str, Any]]:
    return [r.props for r in resources if r.resource_type == resource_type]


def k8s_objects(resources: Resources, kind: str) -> list[Mapping[str, Any]]:
    return [
        r.props
        for r in resources
        if r.resource_type.startswith("kubernetes:") and r.props.get("kind") == kind
    ]


def display_name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}".replace(" /", " ")


def pod_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: Mapping[str, Any]) -> Mapping[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def role_of(workload: Mapping[str, Any]) -> str | None:
    return pod_labels(workload).get("recdrill.io/role")


def active_deployments(resources: Resources) -> list[Mapping[str, Any]]:
    """The active replica Deployments: one per zone (pinned), or one spread over all."""
    return [
        deployment
        for deployment in k8s_objects(resources, "Deployment")
        if "recdrill.io/zones" in (deployment["metadata"].get("annotations") or {})
    ]


def replica_gpus(workload: Mapping[str, Any]) -> int:
    limits = pod_spec(workload)["containers"][0].get("resources", {}).get("limits", {})
    return int(float(limits.get(GPU, 0)))


def policy_document(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else dict(document or {})


def statements(document: Any) -> list[dict[str, Any]]:
    found = policy_document(document).get("Statement") or []
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def resources_of(resources: Resources, resource_type: str) -> list[ResourceLike]:
    """Whole resources (not just props), for invariants that follow property links."""
    return [r for r in resources if r.resource_type == resource_type]


def built_from(resource: Any, prop: str) -> list[Any]:
    """The resources an input property was built from (pulumi-policy's
    ``property_dependencies``): how a route names its NAT, a NAT its subnet."""
    return list((getattr(resource, "property_dependencies", None) or {}).get(prop) or [])


def helm_releases(resources: Resources, chart: str) -> list[Mapping[str, Any]]:
    return [
        r.props
        for r in resources
        if r.resource_type == "kubernetes:helm.sh/v3:Release" and r.props.get("chart") == chart
    ]
