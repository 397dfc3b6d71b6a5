"""IRSA roles of the cluster's own controllers: the Cluster Autoscaler and the AWS Load
Balancer Controller. Each trusts exactly one kube-system ServiceAccount."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.aws.iam import irsa_trust_policy

AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
LOAD_BALANCER_SERVICE_ACCOUNT = "aws-load-balancer-controller"
CONTROLLER_NAMESPACE = "kube-system"


def autoscaler_policy(cluster_name: str) -> str:
    """The Cluster Autoscaler's documented minimum: read everywhere, resize only the ASGs
    tagged as this cluster's (EKS tags its managed node groups' ASGs so)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Discover",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                        "eks:DescribeNodegroup",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ResizeOwnGroups",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:SetDesiredCapacity",
                        "autoscaling:TerminateInstanceInAutoScalingGroup",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"
                        }
                    },
                },
            ],
        }
    )


def load_balancer_policy(cluster_name: str) -> str:
    """What the controller needs for NLBs with IP targets (a condensed upstream
    iam_policy.json): read everywhere; change only what it tagged for this cluster."""
    owned = {"StringEquals": {"aws:ResourceTag/elbv2.k8s.aws/cluster": cluster_name}}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LinkedRole",
                    "Effect": "Allow",
                    "Action": "iam:CreateServiceLinkedRole",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}
                    },
                },
                {
                    "Sid": "Describe",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:Describe*",
                        "ec2:GetSecurityGroupsForVpc",
                        "elasticloadbalancing:Describe*",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "Create",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateSecurityGroup",
                        "ec2:CreateTags",
                        "elasticloadbalancing:CreateLoadBalancer",
                        "elasticloadbalancing:CreateTargetGroup",
                        "elasticloadbalancing:CreateListener",
                        "elasticloadbalancing:AddTags",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ChangeOwned",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:AuthorizeSecurityGroupIngress",
                        "ec2:RevokeSecurityGroupIngress",
                        "ec2:DeleteSecurityGroup",
                        "ec2:DeleteTags",
                        "elasticloadbalancing:ModifyLoadBalancerAttributes",
                        "elasticloadbalancing:ModifyTargetGroup",
                        "elasticloadbalancing:ModifyTargetGroupAttributes",
                        "elasticloadbalancing:ModifyListener",
                        "elasticloadbalancing:SetSecurityGroups",
                        "elasticloadbalancing:SetSubnets",
                        "elasticloadbalancing:DeleteLoadBalancer",
                        "elasticloadbalancing:DeleteTargetGroup",
                        "elasticloadbalancing:DeleteListener",
                        "elasticloadbalancing:RegisterTargets",
                        "elasticloadbalancing:DeregisterTargets",
                        "elasticloadbalancing:RemoveTags",
                    ],
                    "Resource": "*",
                    "Condition": owned,
                },
            ],
        }
    )


@dataclass
class ControllerRolesArgs:
    cluster_name: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


class ControllerRoles(pulumi.ComponentResource):
    """One IRSA role per controller; the k8s side (infra/k8s/platform.py) annotates the
    controllers' ServiceAccounts with these ARNs."""

    def __init__(
        self, name: str, args: ControllerRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:ControllerRoles", name, None, opts)
        self.autoscaler = self._role(
            f"{name}-autoscaler",
            args,
            AUTOSCALER_SERVICE_ACCOUNT,
            autoscaler_policy(args.cluster_name),
        )
        self.load_balancer = self._role(
            f"{name}-load-balancer",
            args,
            LOAD_BALANCER_SERVICE_ACCOUNT,
            load_balancer_policy(args.cluster_name),
        )
        self.register_outputs(
            {"autoscaler": self.autoscaler.arn, "load_balancer": self.load_balancer.arn}
        )

    def _role(
        self, name: str, args: ControllerRolesArgs, account: str, policy: str
    ) -> aws.iam.Role:
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: irsa_trust_policy(v[0], v[1], CONTROLLER_NAMESPACE, account)
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=f"{CONTROLLER_NAMESPACE}/{account} on {args.cluster_name}",
            assume_role_policy=trust,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.name,
            policy=policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role
