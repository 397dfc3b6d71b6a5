"""IRSA: the replica ServiceAccount may read the model prefix and decrypt it, nothing else.

The router gets no AWS role at all: it learns popular items from the replicas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass
class StoreReadGrant:
    """Read access to one bucket prefix and the KMS key its objects are encrypted with."""

    bucket_arn: str
    prefix: str
    key_arn: pulumi.Input[str]


@dataclass
class ReplicaRoleArgs:
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    namespace: str
    service_account: str
    grants: list[StoreReadGrant]
    tags: dict[str, str] = field(default_factory=dict)


def irsa_trust_policy(provider_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """Trust exactly one ServiceAccount of the cluster's OIDC issuer, for STS only."""
    host = issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{host}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )


def store_read_policy(grants: list[tuple[str, str, str]]) -> str:
    """GetObject(Version) under each prefix, ListBucket on its bucket, Decrypt with its key.

    ListBucket carries no ``s3:prefix`` condition on purpose: S3 decides between 404 and
    403 for a missing key by whether the caller may list the *bucket*, and a HEAD/GET
    carries no prefix to match. With the condition a missing key answers 403, which the
    replica reads as "store unreachable" and which ends its fallback chain. Listing
    reveals key names only; object reads stay limited to the prefix.
    """
    statements: list[dict] = []
    for bucket_arn, prefix, key_arn in grants:
        statements += [
            {
                "Sid": "ReadModelObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "ListModelPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
            },
            {
                "Sid": "DecryptModelObjects",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
            },
        ]
    for index, statement in enumerate(statements):
        statement["Sid"] = f"{statement['Sid']}{index // 3}"
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class ReplicaRole(pulumi.ComponentResource):
    """The IAM role the replica pods assume through their annotated ServiceAccount."""

    def __init__(
        self, name: str, args: ReplicaRoleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:ReplicaRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
            lambda v: irsa_trust_policy(v[0], v[1], args.namespace, args.service_account)
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"recdrill replicas ({args.namespace}/{args.service_account}): read models",
            assume_role_policy=trust,
            max_session_duration=3600,
            tags=args.tags,
            opts=child,
        )
        key_arns = [grant.key_arn for grant in args.grants]
        policy = pulumi.Output.all(*key_arns).apply(
            lambda keys: store_read_policy(
                [(g.bucket_arn, g.prefix, key) for g, key in zip(args.grants, keys, strict=True)]
            )
        )
        aws.iam.RolePolicy(f"{name}-read-models", role=self.role.name, policy=policy, opts=child)
        self.register_outputs({"role_arn": self.role.arn})
