"""EKS: control plane, OIDC provider, core addons, a system node group and one GPU
managed node group per AZ (so the autoscaler can grow exactly the zone that needs it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.aws.nodes import GpuPoolArgs, NodePools, NodePoolsArgs
from infra.aws.versions import ADDON_VERSIONS

# Node-level addons go first: with bootstrap_self_managed_addons off, nodes stay NotReady
# (and the node groups fail to create) until the CNI exists.
NODE_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
# Deployments: they wait for the system nodes. metrics-server feeds the HPAs' CPU metric.
DEPLOYMENT_ADDONS = ("coredns", "metrics-server")
# VPC CNI enforces NetworkPolicies only with its network policy agent switched on;
# without it every policy of the stack is accepted and silently ignored.
ADDON_CONFIGURATION: dict[str, dict[str, str]] = {"vpc-cni": {"enableNetworkPolicy": "true"}}
SERVICE_CIDR = "172.20.0.0/16"
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
_MANAGED = "arn:aws:iam::aws:policy/"


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
    support_type: str = "STANDARD"
    api_public_cidrs: tuple[str, ...] = ()
    break_glass_role_arn: str | None = None
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
                # Nodes and pods reach the API inside the VPC; from outside only the
                # configured CIDRs (CI runners, VPN) may, or nobody (private endpoint).
                "endpoint_private_access": True,
                "endpoint_public_access": bool(args.api_public_cidrs),
                **(
                    {"public_access_cidrs": list(args.api_public_cidrs)}
                    if args.api_public_cidrs
                    else {}
                ),
            },
            # Fixed, so the router's NetworkPolicy can name the API server's Service IP.
            kubernetes_network_config={"service_ipv4_cidr": SERVICE_CIDR},
            # Explicit: STANDARD lets EKS upgrade the control plane at the end of standard
            # support instead of billing extended support silently (its default).
            upgrade_policy={"support_type": args.support_type},
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
        self.addon_versions = ADDON_VERSIONS[args.kubernetes_version]
        self.addons = {addon: self._addon(name, addon, args.tags, []) for addon in NODE_ADDONS}
        node_deps = [*node_policies, *self.addons.values()]
        pulumi.ResourceOptions(parent=self, depends_on=node_deps)

        pools = NodePools(
            name,
            NodePoolsArgs(
                cluster_name=self.cluster.name,
                node_role_arn=node_role.arn,
                private_subnets=args.private_subnets,
                zone_label=args.zone_label,
                system_instance_type=args.system_instance_type,
                system_nodes=args.system_nodes,
                gpu=args.gpu,
                depends_on=node_deps,
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.system_nodes = pools.system_nodes
        self.gpu_node_groups = pools.gpu_node_groups
        self.gpu_asg_names = pools.gpu_asg_names

        # coredns and metrics-server are Deployments: they need healthy system nodes.
        for addon in DEPLOYMENT_ADDONS:
            self.addons[addon] = self._addon(name, addon, args.tags, [self.system_nodes])
        if args.break_glass_role_arn:
            self._break_glass(name, args.break_glass_role_arn, args.tags)

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

    def _break_glass(self, name: str, role_arn: str, tags: dict[str, str]) -> None:
        """Cluster admin for a role kept outside CI, for when the CI role is lost or broken."""
        entry = aws.eks.AccessEntry(
            f"{name}-break-glass",
            cluster_name=self.cluster.name,
            principal_arn=role_arn,
            type="STANDARD",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.eks.AccessPolicyAssociation(
            f"{name}-break-glass-admin",
            cluster_name=self.cluster.name,
            principal_arn=role_arn,
            policy_arn=CLUSTER_ADMIN_POLICY,
            access_scope={"type": "cluster"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[entry]),
        )

    def _addon(
        self, name: str, addon: str, tags: dict[str, str], depends: list[pulumi.Resource]
    ) -> aws.eks.Addon:
        settings = ADDON_CONFIGURATION.get(addon)
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=self.cluster.name,
            addon_name=addon,
            addon_version=self.addon_versions[addon],
            **({"configuration_values": json.dumps(settings)} if settings else {}),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
