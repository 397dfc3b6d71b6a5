"""EKS invariants: pinned versions with an explicit upgrade policy, a locked-down API
endpoint with a break-glass admin, IMDSv2-only nodes, and a node autoscaler that can
really scale the GPU groups."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from infra.policy.view import (
    Resources,
    built_from,
    helm_releases,
    k8s_objects,
    of_type,
    resources_of,
)

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
GPU_TAINT = "nvidia.com/gpu"


def versions_pinned(resources: Resources) -> list[str]:
    """The EKS version, every add-on version and every Helm chart version are pinned, and
    the cluster's upgrade policy is chosen explicitly."""
    problems = []
    for cluster in of_type(resources, CLUSTER):
        if not cluster.get("version"):
            problems.append(f"EKS cluster {cluster.get('name')}: Kubernetes version not pinned")
        if (cluster.get("upgradePolicy") or {}).get("supportType") not in ("STANDARD", "EXTENDED"):
            problems.append(
                f"EKS cluster {cluster.get('name')}: upgradePolicy.supportType not set "
                "(EKS defaults to EXTENDED support, billed silently)"
            )
    for addon in of_type(resources, "aws:eks/addon:Addon"):
        if not addon.get("addonVersion"):
            problems.append(f"add-on {addon.get('addonName')}: addonVersion not pinned")
    for release in of_type(resources, "kubernetes:helm.sh/v3:Release"):
        if not release.get("version"):
            problems.append(f"Helm release {release.get('chart')}: chart version not pinned")
    return problems


def _open_to_internet(cidrs: list[str]) -> bool:
    return not cidrs or any(ipaddress.ip_network(c).prefixlen == 0 for c in cidrs)


def cluster_access_locked(resources: Resources) -> list[str]:
    """The API endpoint is private or limited to listed CIDRs, and a break-glass role has
    cluster admin through an access entry."""
    problems = []
    for cluster in of_type(resources, CLUSTER):
        name = cluster.get("name")
        vpc = cluster.get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess") is not False and _open_to_internet(
            list(vpc.get("publicAccessCidrs") or [])
        ):
            problems.append(
                f"EKS cluster {name}: API endpoint is public to 0.0.0.0/0; make it private "
                "or list publicAccessCidrs"
            )
        admins = {
            a.get("principalArn")
            for a in of_type(resources, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
            if a.get("policyArn") == ADMIN_POLICY
            and (a.get("accessScope") or {}).get("type") == "cluster"
        }
        entries = {
            e.get("principalArn") for e in of_type(resources, "aws:eks/accessEntry:AccessEntry")
        }
        if not admins & entries:
            problems.append(f"EKS cluster {name}: no break-glass access entry with cluster admin")
    return problems


def nodes_imdsv2_only(resources: Resources) -> list[str]:
    """Every node group launches from a template with IMDSv2 required and hop limit 1, so
    pods cannot take the node role's credentials."""
    templates = {
        t.get("name"): t for t in of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate")
    }
    problems = []
    for group in of_type(resources, NODE_GROUP):
        labels = group.get("labels") or {}
        who = f"node group {labels.get('recdrill.io/pool')} {labels.get('recdrill.io/zone', '')}"
        template = templates.get((group.get("launchTemplate") or {}).get("name"))
        if template is None:
            problems.append(f"{who}: no launch template of this stack (IMDS left at defaults)")
            continue
        options = template.get("metadataOptions") or {}
        if options.get("httpTokens") != "required":
            problems.append(f"{who}: IMDSv1 allowed (httpTokens is not required)")
        if int(options.get("httpPutResponseHopLimit") or 2) != 1:
            problems.append(f"{who}: IMDS hop limit is not 1: pods can reach the node role")
    return problems


def _gpu_groups(resources: Resources) -> list[Any]:
    return [
        g
        for g in resources_of(resources, NODE_GROUP)
        if any(t.get("key") == GPU_TAINT for t in g.props.get("taints") or [])
    ]


def node_autoscaler_installed(resources: Resources) -> list[str]:
    """GPU node groups are scaled: a Cluster Autoscaler is installed, placeholders are
    not expendable to it, and its scale-from-zero hints sit on each group's ASG."""
    groups = _gpu_groups(resources)
    if not groups:
        return []
    problems = []
    autoscalers = helm_releases(resources, "cluster-autoscaler")
    if not autoscalers:
        problems.append(
            "GPU node groups but no Cluster Autoscaler: placeholders, HPA scale-ups and "
            "drained replicas stay Pending"
        )
    placeholder = [
        p.get("value")
        for p in k8s_objects(resources, "PriorityClass")
        if "placeholder" in p["metadata"]["name"]
    ]
    for release in autoscalers:
        cutoff = int(
            (release.get("values") or {})
            .get("extraArgs", {})
            .get("expendable-pods-priority-cutoff", -10)
        )
        for priority in placeholder:
            if priority < cutoff:
                problems.append(
                    f"placeholder priority {priority} is below the autoscaler's expendable "
                    f"cutoff {cutoff}: they never trigger a scale-up"
                )
    tags = resources_of(resources, "aws:autoscaling/tag:Tag")
    for group in groups:
        zone = (group.props.get("labels") or {}).get("recdrill.io/zone")
        keys = {
            t.props["tag"]["key"] for t in tags if group in built_from(t, "autoscalingGroupName")
        }
        for hint in (
            f"resources/{GPU_TAINT}",
            f"taint/{GPU_TAINT}",
            "label/topology.kubernetes.io/zone",
        ):
            if f"{NODE_TEMPLATE}/{hint}" not in keys:
                problems.append(
                    f"GPU node group of zone {zone}: its Auto Scaling group lacks the "
                    f"{NODE_TEMPLATE}/{hint} tag (node group tags are not copied to the ASG)"
                )
    return problems


def _uses(hpa: Mapping[str, Any], kind: str) -> bool:
    return any(m.get("type") == kind for m in hpa["spec"].get("metrics") or [])


def autoscaling_has_signal(resources: Resources) -> list[str]:
    """HPAs get their metrics: metrics-server for CPU, prometheus-adapter for pod metrics;
    GPU replicas scale on a load signal, not CPU."""
    hpas = k8s_objects(resources, "HorizontalPodAutoscaler")
    if not hpas or not of_type(resources, CLUSTER):
        return []
    problems = []
    addons = {a.get("addonName") for a in of_type(resources, "aws:eks/addon:Addon")}
    if any(_uses(h, "Resource") for h in hpas) and "metrics-server" not in addons:
        problems.append("HPAs scale on CPU but metrics-server is not installed")
    if any(_uses(h, "Pods") for h in hpas) and not helm_releases(resources, "prometheus-adapter"):
        problems.append("HPAs scale on pod metrics but prometheus-adapter is not installed")
    gpu_deployments = {
        d["metadata"]["name"]
        for d in k8s_objects(resources, "Deployment")
        if any(
            GPU_TAINT in (c.get("resources") or {}).get("limits", {})
            for c in d["spec"]["template"]["spec"]["containers"]
        )
    }
    for hpa in hpas:
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if target in gpu_deployments and not _uses(hpa, "Pods"):
            problems.append(
                f"HPA {hpa['metadata']['name']} scales GPU replicas on CPU: a GPU replica "
                "saturates long before its CPU does"
            )
    return problems
