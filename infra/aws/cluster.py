"""EKS: control plane, OIDC provider, core addons, a system node group and one GPU
managed node group per AZ (so the autoscaler can grow exactly the zone that needs it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.config import NODE_GROUP_ZONE_LABEL

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
# Node-level addons go first: with bootstrap_self_managed_addons off, nodes stay NotReady
# (and the node groups fail to create) until the CNI exists.
NODE_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
_MANAGED = "arn:aws:iam::aws:policy/"


@dataclass
class GpuPoolArgs:
    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    gpus_per_node: int


@dataclass
class ClusterArgs:
    region: str
    kubernetes_version: str
    private_subnets: dict[str, pulumi.Input[str]]
    public_subnets: dict[str, pulumi.Input[str]]
    zone_label: str
    system_instance_type: str
    system_nodes: int
    gpu: GpuPoolArgs
    tags: dict[str, str] = field(default_factory=dict)


def _assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )


def kubeconfig(
    name: pulumi.Input[str], endpoint: pulumi.Input[str], ca: pulumi.Input[str], region: str
) -> pulumi.Output[str]:
    """A kubeconfig that authenticates with ``aws eks get-token`` (no static secrets)."""

    def render(values: list[str]) -> str:
        cluster_name, server, authority = values
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": cluster_name,
                        "cluster": {"server": server, "certificate-authority-data": authority},
                    }
                ],
                "contexts": [
                    {
                        "name": cluster_name,
                        "context": {"cluster": cluster_name, "user": cluster_name},
                    }
                ],
                "current-context": cluster_name,
                "users": [
                    {
                        "name": cluster_name,
                        "user": {
                            "exec": {
                                "apiVersion": "client.authentication.k8s.io/v1beta1",
                                "command": "aws",
                                "args": [
                                    "eks",
                                    "get-token",
                                    "--cluster-name",
                                    cluster_name,
                                    "--region",
                                    region,
                                ],
                            }
                        },
                    }
                ],
            }
        )

    return pulumi.Output.all(name, endpoint, ca).apply(render)


def _autoscaler_hints(zone_label: str, zone: str, gpu: GpuPoolArgs) -> dict[str, str]:
    """Scale-from-zero hints: what a node of this group would look like to the autoscaler."""
    template = "k8s.io/cluster-autoscaler/node-template"
    return {
        f"{template}/label/{zone_label}": zone,
        f"{template}/taint/{GPU_TAINT_KEY}": "true:NoSchedule",
        f"{template}/resources/{GPU_TAINT_KEY}": str(gpu.gpus_per_node),
    }


class Cluster(pulumi.ComponentResource):
    """The EKS cluster and its node groups; exposes what IRSA and the k8s provider need."""

    def __init__(
        self,
        name: str,
        args: ClusterArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("recdrill:aws:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=_assume_role("eks.amazonaws.com"),
            tags=args.tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=_MANAGED + "AmazonEKSClusterPolicy",
            opts=child,
        )
        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"{name}: envelope encryption of Kubernetes secrets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=args.tags,
            opts=child,
        )
        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            # A fixed name: subnet tags (kubernetes.io/cluster/<name>) and
            # `aws eks update-kubeconfig --name recdrill-<env>` rely on it.
            name=name,
            role_arn=cluster_role.arn,
            version=args.kubernetes_version,
            vpc_config={
                "subnet_ids": [*args.private_subnets.values(), *args.public_subnets.values()],
                "endpoint_private_access": True,
                "endpoint_public_access": True,
            },
            access_config={
                "authentication_mode": "API",
                "bootstrap_cluster_creator_admin_permissions": True,
            },
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": secrets_key.arn}},
            enabled_cluster_log_types=["api", "audit", "authenticator"],
            # The addons below are managed explicitly so their versions are pinned by us.
            bootstrap_self_managed_addons=False,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_policy]),
        )
        self.oidc_issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=self.oidc_issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=args.tags,
            opts=child,
        )

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=_assume_role("ec2.amazonaws.com"),
            tags=args.tags,
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}",
                role=node_role.name,
                policy_arn=_MANAGED + policy,
                opts=child,
            )
            for policy in (
                "AmazonEKSWorkerNodePolicy",
                "AmazonEKS_CNI_Policy",
                "AmazonEC2ContainerRegistryReadOnly",
            )
        ]
        self.addons = {addon: self._addon(name, addon, args.tags, []) for addon in NODE_ADDONS}
        node_deps = [*node_policies, *self.addons.values()]
        node_opts = pulumi.ResourceOptions(parent=self, depends_on=node_deps)

        self.system_nodes = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=list(args.private_subnets.values()),
            instance_types=[args.system_instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            scaling_config={
                "min_size": args.system_nodes,
                "desired_size": args.system_nodes,
                "max_size": args.system_nodes * 2,
            },
            update_config={"max_unavailable": 1},
            labels={"recdrill.io/pool": "system"},
            tags=args.tags,
            opts=node_opts,
        )

        self.gpu_node_groups: dict[str, aws.eks.NodeGroup] = {}
        for zone, subnet in args.private_subnets.items():
            # One group per AZ: a group spanning AZs lets the ASG rebalance away from the
            # zone we are trying to refill, and the autoscaler cannot target a zone.
            self.gpu_node_groups[zone] = aws.eks.NodeGroup(
                f"{name}-gpu-{zone}",
                cluster_name=self.cluster.name,
                node_role_arn=node_role.arn,
                subnet_ids=[subnet],
                instance_types=[args.gpu.instance_type],
                ami_type=GPU_AMI_TYPE,
                capacity_type="ON_DEMAND",
                disk_size=100,
                scaling_config={
                    "min_size": args.gpu.min_size,
                    "desired_size": args.gpu.desired_size,
                    "max_size": args.gpu.max_size,
                },
                update_config={"max_unavailable": 1},
                node_repair_config={"enabled": True},
                labels={NODE_GROUP_ZONE_LABEL: zone, "recdrill.io/pool": "gpu"},
                taints=[{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}],
                tags={**args.tags, **_autoscaler_hints(args.zone_label, zone, args.gpu)},
                # The autoscaler owns desired_size once the group exists.
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=node_deps,
                    ignore_changes=["scalingConfig.desiredSize"],
                ),
            )

        # coredns is a Deployment: it needs the system nodes to become healthy.
        self.addons["coredns"] = self._addon(name, "coredns", args.tags, [self.system_nodes])

        self.kubeconfig = kubeconfig(
            self.cluster.name,
            self.cluster.endpoint,
            self.cluster.certificate_authority.apply(lambda ca: ca.data),
            args.region,
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster.name,
                "oidc_provider_arn": self.oidc_provider.arn,
                "gpu_node_groups": {z: g.id for z, g in self.gpu_node_groups.items()},
            }
        )

    def _addon(
        self, name: str, addon: str, tags: dict[str, str], depends: list[pulumi.Resource]
    ) -> aws.eks.Addon:
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
