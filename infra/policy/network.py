"""Network invariants: no zone is a single point of failure for the others' egress, and
the NetworkPolicies the stack declares are really enforced."""

from __future__ import annotations

import json

from infra.policy.view import Resources, built_from, k8s_objects, of_type, resources_of

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"


def no_zone_spof(resources: Resources) -> list[str]:
    """Multi-zone stacks: every private subnet leaves through a NAT in its own zone."""
    private_zones = {
        s.get("availabilityZone")
        for s in of_type(resources, SUBNET)
        if (s.get("tags") or {}).get("kubernetes.io/role/internal-elb")
    }
    if len(private_zones) < 2:
        return []
    problems = []
    for association in resources_of(
        resources, "aws:ec2/routeTableAssociation:RouteTableAssociation"
    ):
        subnets = [s for s in built_from(association, "subnetId") if s.resource_type == SUBNET]
        tables = built_from(association, "routeTableId")
        if not subnets or not tables:
            continue
        subnet = subnets[0]
        if not (subnet.props.get("tags") or {}).get("kubernetes.io/role/internal-elb"):
            continue
        zone = subnet.props.get("availabilityZone")
        for nat in (n for n in built_from(tables[0], "routes") if n.resource_type == NAT):
            nat_zones = {s.props.get("availabilityZone") for s in built_from(nat, "subnetId")}
            if nat_zones != {zone}:
                problems.append(
                    f"private subnet in {zone} routes through NAT {nat.name} in "
                    f"{', '.join(sorted(str(z) for z in nat_zones))}: losing that zone cuts "
                    f"{zone}'s egress (zone single point of failure)"
                )
    return problems


def network_policies_enforced(resources: Resources) -> list[str]:
    """On EKS, VPC CNI enforces NetworkPolicies only with ``enableNetworkPolicy: "true"``."""
    if not k8s_objects(resources, "NetworkPolicy") or not of_type(
        resources, "aws:eks/cluster:Cluster"
    ):
        return []
    cni = [a for a in of_type(resources, "aws:eks/addon:Addon") if a.get("addonName") == "vpc-cni"]
    if not cni:
        return ["NetworkPolicies are declared but the vpc-cni add-on is not managed by the stack"]
    problems = []
    for addon in cni:
        raw = addon.get("configurationValues") or "{}"
        settings = json.loads(raw) if isinstance(raw, str) else dict(raw)
        if settings.get("enableNetworkPolicy") != "true":
            problems.append(
                'vpc-cni add-on lacks configurationValues {"enableNetworkPolicy": "true"}: '
                "every NetworkPolicy of the stack is accepted and ignored"
            )
    return problems
