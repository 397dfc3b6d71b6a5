"""Node groups: a system group and one GPU group per AZ, each from a hardened launch
template, with the Cluster Autoscaler's scale-from-zero hints on the Auto Scaling groups.

EKS does not copy node group tags to the Auto Scaling group it creates
(aws/containers-roadmap#608), and the Cluster Autoscaler reads its ``node-template``
hints from the ASG only: the hints are ``aws.autoscaling.Tag`` resources on each group's
ASG here, not node group tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import NODE_GROUP_ZONE_LABEL

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
# IMDSv2 only, one hop: a pod (one hop further than the node) cannot read the node
# role's credentials from the instance metadata service; pods use IRSA instead.
METADATA_OPTIONS = {
    "http_endpoint": "enabled",
    "http_tokens": "required",
    "http_put_response_hop_limit": 1,
}


@dataclass
class GpuPoolArgs:
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    gpus_per_node: int


@dataclass
class NodePoolsArgs:
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    private_subnets: dict[str, pulumi.Input[str]]
    zone_label: str
    system_instance_type: str
    system_nodes: int
    gpu: GpuPoolArgs
    # The CNI and node policies: nodes stay NotReady until these exist.
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


def autoscaler_hints(zone_label: str, zone: str, gpu: GpuPoolArgs) -> dict[str, str]:
    """Scale-from-zero hints: what a node of this group would look like to the autoscaler."""
    return {
        f"{NODE_TEMPLATE}/label/{zone_label}": zone,
        f"{NODE_TEMPLATE}/label/{NODE_GROUP_ZONE_LABEL}": zone,
        f"{NODE_TEMPLATE}/label/recdrill.io/pool": "gpu",
        f"{NODE_TEMPLATE}/taint/{GPU_TAINT_KEY}": "true:NoSchedule",
        f"{NODE_TEMPLATE}/resources/{GPU_TAINT_KEY}": str(gpu.gpus_per_node),
    }


def _asg_name(resources: Any) -> str:
    """The Auto Scaling group EKS created for a node group (typed outputs or plain dicts)."""
    first = resources[0]
    groups = first["autoscaling_groups"] if isinstance(first, dict) else first.autoscaling_groups
    group = groups[0]
    return group["name"] if isinstance(group, dict) else group.name


class NodePools(pulumi.ComponentResource):
    """The system node group and the per-AZ GPU node groups of one cluster."""

    def __init__(
        self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:NodePools", name, None, opts)
        system_template = self._launch_template(f"{name}-system", 50, args.tags)
        self.system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.private_subnets.values()),
            instance_types=[args.system_instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            launch_template=_template_ref(system_template),
            scaling_config={
                "min_size": args.system_nodes,
                "desired_size": args.system_nodes,
                "max_size": args.system_nodes * 2,
            },
            update_config={"max_unavailable": 1},
            labels={"recdrill.io/pool": "system"},
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        gpu_template = self._launch_template(f"{name}-gpu", 100, args.tags)
        self.gpu_node_groups: dict[str, aws.eks.NodeGroup] = {}
        self.gpu_asg_names: dict[str, pulumi.Output[str]] = {}
        for zone, subnet in args.private_subnets.items():
            # One group per AZ: a group spanning AZs lets the ASG rebalance away from the
            # zone we are trying to refill, and the autoscaler cannot target a zone.
            group = aws.eks.NodeGroup(
                f"{name}-gpu-{zone}",
                cluster_name=args.cluster_name,
                node_role_arn=args.node_role_arn,
                subnet_ids=[subnet],
                instance_types=[args.gpu.instance_type],
                ami_type=GPU_AMI_TYPE,
                capacity_type="ON_DEMAND",
                launch_template=_template_ref(gpu_template),
                scaling_config={
                    "min_size": args.gpu.min_size,
                    "desired_size": args.gpu.desired_size,
                    "max_size": args.gpu.max_size,
                },
                update_config={"max_unavailable": 1},
                node_repair_config={"enabled": True},
                labels={NODE_GROUP_ZONE_LABEL: zone, "recdrill.io/pool": "gpu"},
                taints=[{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}],
                tags=args.tags,
                # The autoscaler owns desired_size once the group exists.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=args.depends_on,
                    ignore_changes=["scalingConfig.desiredSize"],
                ),
            )
            asg_name = group.resources.apply(_asg_name)
            for key, value in autoscaler_hints(args.zone_label, zone, args.gpu).items():
                aws.autoscaling.Tag(
                    f"{name}-gpu-{zone}-{key.removeprefix(NODE_TEMPLATE + '/').replace('/', '-')}",
                    autoscaling_group_name=asg_name,
                    tag={"key": key, "value": value, "propagate_at_launch": False},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            self.gpu_node_groups[zone] = group
            self.gpu_asg_names[zone] = asg_name
        self.register_outputs({"gpu_asg_names": self.gpu_asg_names})

    def _launch_template(
        self, name: str, disk_gib: int, tags: dict[str, str]
    ) -> aws.ec2.LaunchTemplate:
        return aws.ec2.LaunchTemplate(
            name,
            name=name,
            description=f"{name}: IMDSv2 only (hop limit 1), encrypted gp3 root volume",
            metadata_options=METADATA_OPTIONS,
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": disk_gib,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            update_default_version=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _template_ref(template: aws.ec2.LaunchTemplate) -> dict[str, pulumi.Input[str]]:
    return {"name": template.name, "version": template.latest_version.apply(str)}
