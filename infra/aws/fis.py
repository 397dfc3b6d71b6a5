"""AWS FIS experiment templates for zone loss, one per zone, and the role they run as.

Each template is the AZ power-interruption scenario cut to this stack: stop the zone's
GPU nodes (the instances of that zone's node group, by the tags EKS puts on them),
refuse the node group new capacity in the zone (an ASG could otherwise relaunch into
it), and cut the zone's subnets off (network ACLs FIS creates and removes). Stopping the
experiment, or its duration running out, starts the instances again and removes the ACLs.
Each template stops on its zone's router-SLO alarm (infra/aws/canary.py).

The role may stop and start only instances tagged as this cluster's GPU nodes, swap
network ACLs only in this stack's VPC, and inject capacity errors only into the GPU
groups' ASGs; reads stay unscoped because those EC2 calls support no resource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

# How long a zone stays down unless zone_up (StopExperiment) ends it sooner; past the
# stacks' RTOs so the drill, not the clock, decides when the zone returns.
FAULT_DURATION = "PT20M"
STOP_INSTANCES = "aws:ec2:stop-instances"
DISRUPT_SUBNETS = "aws:network:disrupt-connectivity"
NO_CAPACITY = "aws:ec2:asg-insufficient-instance-capacity-error"
# FIS tags the network ACLs it creates so; only those may be edited or deleted.
FIS_ACL_TAG = "managedByFIS"


@dataclass
class ZoneTargets:
    """What one zone's template hits."""

    node_group_name: pulumi.Input[str]
    asg_name: pulumi.Input[str]
    subnet_arns: list[pulumi.Input[str]]
    stop_alarm_arn: pulumi.Input[str]


@dataclass
class ZoneLossArgs:
    region: str
    cluster_name: pulumi.Input[str]
    vpc_arn: pulumi.Input[str]
    zones: dict[str, ZoneTargets]
    tags: dict[str, str] = field(default_factory=dict)


def fis_trust_policy(region: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "fis.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": f"arn:aws:fis:{region}:*:experiment/*"}
                    },
                }
            ],
        }
    )


def fis_role_policy(
    region: str,
    cluster_name: str,
    node_groups: list[str],
    asg_names: list[str],
    vpc_arn: str,
    subnet_arns: list[str],
) -> str:
    """Least privilege for the three zone-loss actions on this stack's resources only."""
    asg_arns = [
        f"arn:aws:autoscaling:{region}:*:autoScalingGroup:*:autoScalingGroupName/{n}"
        for n in asg_names
    ]
    acls = f"arn:aws:ec2:{region}:*:network-acl/*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ResolveTargets",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:DescribeInstances",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeNetworkAcls",
                        "ec2:DescribeManagedPrefixLists",
                        "ec2:GetManagedPrefixListEntries",
                        "autoscaling:DescribeAutoScalingGroups",
                        "tag:GetResources",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "StopStartThisClustersGpuNodes",
                    "Effect": "Allow",
                    "Action": ["ec2:StopInstances", "ec2:StartInstances"],
                    "Resource": f"arn:aws:ec2:{region}:*:instance/*",
                    "Condition": {
                        "StringEquals": {
                            "aws:ResourceTag/eks:cluster-name": cluster_name,
                            "aws:ResourceTag/eks:nodegroup-name": node_groups,
                        }
                    },
                },
                {
                    # The VPC side of CreateNetworkAcl: this stack's VPC, by its ARN.
                    "Sid": "CreateAclsInThisVpc",
                    "Effect": "Allow",
                    "Action": "ec2:CreateNetworkAcl",
                    "Resource": vpc_arn,
                },
                {
                    "Sid": "CreateOnlyFisTaggedAcls",
                    "Effect": "Allow",
                    "Action": "ec2:CreateNetworkAcl",
                    "Resource": acls,
                    "Condition": {
                        "StringEquals": {f"aws:RequestTag/{FIS_ACL_TAG}": "true"},
                        "ArnEquals": {"ec2:Vpc": vpc_arn},
                    },
                },
                {
                    "Sid": "TagFisAclsOnCreate",
                    "Effect": "Allow",
                    "Action": "ec2:CreateTags",
                    "Resource": acls,
                    "Condition": {
                        "StringEquals": {
                            "ec2:CreateAction": "CreateNetworkAcl",
                            f"aws:RequestTag/{FIS_ACL_TAG}": "true",
                        }
                    },
                },
                {
                    "Sid": "EditOnlyFisAcls",
                    "Effect": "Allow",
                    "Action": ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
                    "Resource": acls,
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/{FIS_ACL_TAG}": "true"},
                        "ArnEquals": {"ec2:Vpc": vpc_arn},
                    },
                },
                {
                    "Sid": "SwapAclsOfThisStacksSubnets",
                    "Effect": "Allow",
                    "Action": "ec2:ReplaceNetworkAclAssociation",
                    "Resource": [*subnet_arns, acls],
                    "Condition": {"ArnEquals": {"ec2:Vpc": vpc_arn}},
                },
                {
                    "Sid": "NoCapacityForTheGpuGroups",
                    "Effect": "Allow",
                    "Action": "ec2:InjectApiError",
                    "Resource": "*",
                    "Condition": {
                        "ForAnyValue:StringEquals": {"ec2:FisActionId": [NO_CAPACITY]},
                        "ForAllValues:ArnLike": {"ec2:FisTargetArns": asg_arns},
                    },
                },
            ],
        }
    )


class ZoneLossTemplates(pulumi.ComponentResource):
    """``templates[zone]``: the FIS experiment template that takes that zone down."""

    def __init__(
        self, name: str, args: ZoneLossArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:ZoneLossTemplates", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=fis_trust_policy(args.region),
            tags=args.tags,
            opts=child,
        )
        zones = list(args.zones.values())
        policy = pulumi.Output.all(
            cluster=args.cluster_name,
            vpc=args.vpc_arn,
            groups=[z.node_group_name for z in zones],
            asgs=[z.asg_name for z in zones],
            subnets=[arn for z in zones for arn in z.subnet_arns],
        ).apply(
            lambda v: fis_role_policy(
                args.region, v["cluster"], v["groups"], v["asgs"], v["vpc"], v["subnets"]
            )
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.name, policy=policy, opts=child
        )
        self.templates: dict[str, aws.fis.ExperimentTemplate] = {}
        for zone, targets in args.zones.items():
            self.templates[zone] = self._template(name, zone, targets, args, role_policy)
        self.register_outputs({"templates": {z: t.id for z, t in self.templates.items()}})

    def _template(
        self,
        name: str,
        zone: str,
        targets: ZoneTargets,
        args: ZoneLossArgs,
        role_policy: aws.iam.RolePolicy,
    ) -> aws.fis.ExperimentTemplate:
        by_node_group = [{"key": "eks:nodegroup-name", "value": targets.node_group_name}]
        return aws.fis.ExperimentTemplate(
            f"{name}-{zone}",
            description=f"recdrill zone loss: power interruption of {zone}",
            role_arn=self.role.arn,
            stop_conditions=[{"source": "aws:cloudwatch:alarm", "value": targets.stop_alarm_arn}],
            targets=[
                {
                    "name": "gpu-nodes",
                    "resource_type": "aws:ec2:instance",
                    "selection_mode": "ALL",
                    "resource_tags": by_node_group,
                    "filters": [
                        {"path": "Placement.AvailabilityZone", "values": [zone]},
                        {"path": "State.Name", "values": ["running"]},
                    ],
                },
                {
                    "name": "gpu-group",
                    "resource_type": "aws:ec2:autoscaling-group",
                    "selection_mode": "ALL",
                    "resource_tags": by_node_group,
                },
                {
                    "name": "zone-subnets",
                    "resource_type": "aws:ec2:subnet",
                    "selection_mode": "ALL",
                    "resource_arns": targets.subnet_arns,
                },
            ],
            actions=[
                {
                    "name": "stop-gpu-nodes",
                    "action_id": STOP_INSTANCES,
                    "parameters": [{"key": "startInstancesAfterDuration", "value": FAULT_DURATION}],
                    "target": {"key": "Instances", "value": "gpu-nodes"},
                },
                {
                    "name": "no-capacity-in-zone",
                    "action_id": NO_CAPACITY,
                    "parameters": [
                        {"key": "availabilityZoneIdentifiers", "value": zone},
                        {"key": "duration", "value": FAULT_DURATION},
                        {"key": "percentage", "value": "100"},
                    ],
                    "target": {"key": "AutoScalingGroups", "value": "gpu-group"},
                },
                {
                    "name": "cut-zone-subnets",
                    "action_id": DISRUPT_SUBNETS,
                    "parameters": [
                        {"key": "duration", "value": FAULT_DURATION},
                        {"key": "scope", "value": "all"},
                    ],
                    "target": {"key": "Subnets", "value": "zone-subnets"},
                },
            ],
            tags={**args.tags, "recdrill:zone": zone, "Name": f"{name}-{zone}"},
            # FIS checks the role can act when the experiment starts: policy first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
