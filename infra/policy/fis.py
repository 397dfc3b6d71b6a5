"""FIS invariants: every zone of an EKS stack has a zone-loss template that stops on a
CloudWatch alarm, and the role those templates run as can touch only this stack.

An experiment without a stop condition keeps a zone down while users suffer; a role
with ``ec2:StopInstances`` on every instance could take down anything in the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.policy.view import (
    Resources,
    active_deployments,
    as_list,
    of_type,
    statements,
)

TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
ZONE_TAG = "recdrill:zone"
ZONE_LOSS_ACTIONS = {"aws:ec2:stop-instances", "aws:network:disrupt-connectivity"}
# Everything the three zone-loss actions need (AWS FIS action reference); nothing else.
FIS_ROLE_ACTIONS = {
    "ec2:DescribeInstances",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeManagedPrefixLists",
    "ec2:GetManagedPrefixListEntries",
    "autoscaling:DescribeAutoScalingGroups",
    "tag:GetResources",
    "ec2:StopInstances",
    "ec2:StartInstances",
    "ec2:CreateNetworkAcl",
    "ec2:CreateTags",
    "ec2:CreateNetworkAclEntry",
    "ec2:DeleteNetworkAcl",
    "ec2:ReplaceNetworkAclAssociation",
    "ec2:InjectApiError",
}
_READ_ONLY = ("Describe", "Get", "List")
# Condition keys that tie a statement to this stack's resources.
_SCOPING_KEYS = (
    "aws:ResourceTag/",
    "aws:RequestTag/",
    "ec2:ResourceTag/",
    "ec2:Vpc",
    "ec2:FisTargetArns",
)


def _gpu_zones(resources: Resources) -> list[str]:
    return sorted(
        (group.get("labels") or {}).get("recdrill.io/zone")
        for group in of_type(resources, "aws:eks/nodeGroup:NodeGroup")
        if (group.get("labels") or {}).get("recdrill.io/pool") == "gpu"
    )


def _fis_roles(resources: Resources) -> dict[str, Mapping[str, Any]]:
    return {
        role.get("arn"): role
        for role in of_type(resources, "aws:iam/role:Role")
        if any(
            "fis.amazonaws.com" in as_list((s.get("Principal") or {}).get("Service"))
            for s in statements(role.get("assumeRolePolicy"))
        )
    }


def zone_loss_templates(resources: Resources) -> list[str]:
    """EKS: one FIS zone-loss template per GPU zone, each with a CloudWatch-alarm stop
    condition on an alarm of this stack, run by a FIS role of this stack."""
    if not of_type(resources, "aws:eks/cluster:Cluster") or not active_deployments(resources):
        return []
    alarms = {
        a.get("arn"): (a.get("tags") or {}).get(ZONE_TAG)
        for a in of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    roles = _fis_roles(resources)
    by_zone: dict[str, list[Mapping[str, Any]]] = {}
    for template in of_type(resources, TEMPLATE):
        by_zone.setdefault((template.get("tags") or {}).get(ZONE_TAG), []).append(template)
    problems = []
    for zone in _gpu_zones(resources):
        templates = by_zone.get(zone) or []
        if not templates:
            problems.append(f"zone {zone}: no FIS zone-loss experiment template")
        for template in templates:
            who = f"FIS template for {zone}"
            actions = {a.get("actionId") for a in template.get("actions") or []}
            missing = ZONE_LOSS_ACTIONS - actions
            if missing:
                problems.append(f"{who}: lacks {sorted(missing)} (not a power interruption)")
            stops = [
                s
                for s in template.get("stopConditions") or []
                if s.get("source") == "aws:cloudwatch:alarm"
            ]
            if not stops:
                problems.append(f"{who}: no CloudWatch alarm stop condition")
            for stop in stops:
                if stop.get("value") not in alarms:
                    problems.append(f"{who}: stop alarm {stop.get('value')} is not of this stack")
                elif alarms[stop.get("value")] not in (None, zone):
                    # That zone's canary runs in this zone's subnets: the fault trips it.
                    problems.append(
                        f"{who}: stops on the alarm for {alarms[stop.get('value')]}, whose "
                        "canary runs in the zone this template cuts off"
                    )
            if template.get("roleArn") not in roles:
                problems.append(f"{who}: its role is not a FIS role of this stack")
    return problems


def fis_role_scoped(resources: Resources) -> list[str]:
    """FIS roles: inline policy only, zone-loss actions only, and every change scoped to
    this stack by exact ARNs, its tags, its VPC or its node groups."""
    inline = of_type(resources, "aws:iam/rolePolicy:RolePolicy")
    attached = of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    clusters = {c.get("name") for c in of_type(resources, "aws:eks/cluster:Cluster")}
    problems = []
    for role in _fis_roles(resources).values():
        who = f"FIS role {role.get('name')}"
        if any(a.get("role") == role.get("name") for a in attached):
            problems.append(f"{who}: managed policies are attached")
        for policy in (p for p in inline if p.get("role") == role.get("name")):
            for statement in statements(policy.get("policy")):
                if statement.get("Effect") == "Allow":
                    problems += _check_statement(who, statement)
                    problems += _check_instances(who, statement, clusters)
    return problems


def _check_instances(who: str, statement: Mapping[str, Any], clusters: set[Any]) -> list[str]:
    """Stopping instances: only those EKS tags as this stack's cluster's nodes."""
    if not {"ec2:StopInstances", "ec2:StartInstances"} & set(as_list(statement.get("Action"))):
        return []
    equals = (statement.get("Condition") or {}).get("StringEquals") or {}
    named = set(as_list(equals.get("aws:ResourceTag/eks:cluster-name")))
    if not named or not named <= clusters:
        return [
            f"{who}: may stop instances not tagged eks:cluster-name of this stack's cluster "
            f"({sorted(map(str, clusters))})"
        ]
    return []


def _check_statement(who: str, statement: Mapping[str, Any]) -> list[str]:
    sid = statement.get("Sid") or "a statement"
    actions = set(as_list(statement.get("Action")))
    extra = actions - FIS_ROLE_ACTIONS
    if extra:
        return [f"{who}: {sid} grants more than zone loss needs: {sorted(extra)}"]
    changes = {a for a in actions if not a.split(":", 1)[1].startswith(_READ_ONLY)}
    if not changes:
        return []
    conditions = [
        key for block in (statement.get("Condition") or {}).values() for key in block or {}
    ]
    scoped = any(key.startswith(_SCOPING_KEYS) for key in conditions)
    exact = all("*" not in str(r) for r in as_list(statement.get("Resource")))
    if not (scoped or exact):
        return [
            f"{who}: {sid} allows {sorted(changes)} on {statement.get('Resource')} with no "
            "condition on this stack's tags, VPC or targets"
        ]
    return []
