"""IRSA invariant: one ServiceAccount, the STS audience, read-only access to the model prefix."""

from __future__ import annotations

from typing import Any

from infra.policy.view import Resources, as_list, k8s_objects, of_type, statements

REPLICA_READ_ACTIONS = {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"}


def irsa_least_privilege(resources: Resources) -> list[str]:
    """Replica IRSA roles: one ServiceAccount, STS audience, read-only model prefix, 404s."""
    roles = {r.get("arn"): r for r in of_type(resources, "aws:iam/role:Role")}
    inline = of_type(resources, "aws:iam/rolePolicy:RolePolicy")
    attached = of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    problems = []
    for account in k8s_objects(resources, "ServiceAccount"):
        meta = account["metadata"]
        role_arn = (meta.get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        if role_arn is None:
            continue
        who = f"ServiceAccount {meta.get('namespace')}/{meta['name']}"
        if "router" in meta["name"]:
            problems.append(f"{who}: the router must not get an AWS role")
        role = roles.get(role_arn)
        if role is None:
            problems.append(f"{who}: annotated role {role_arn} is not a role of this stack")
            continue
        expected = f"system:serviceaccount:{meta.get('namespace')}:{meta['name']}"
        problems += _check_trust(who, role.get("assumeRolePolicy"), expected)
        if any(a.get("role") == role.get("name") for a in attached):
            problems.append(f"{who}: managed policies are attached to its role")
        documents = [p.get("policy") for p in inline if p.get("role") == role.get("name")]
        if not documents:
            problems.append(f"{who}: its role has no inline read policy")
        for document in documents:
            problems += _check_read_only(who, document)
    return problems


def _check_trust(who: str, document: Any, subject: str) -> list[str]:
    problems = []
    for statement in statements(document):
        if statement.get("Action") != "sts:AssumeRoleWithWebIdentity" or not (
            statement.get("Principal") or {}
        ).get("Federated"):
            problems.append(f"{who}: trust is not web identity from the cluster OIDC provider")
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        subs = [v for k, v in equals.items() if k.endswith(":sub")]
        auds = [v for k, v in equals.items() if k.endswith(":aud")]
        if subs != [subject]:
            problems.append(f"{who}: trust sub is {subs}, expected exactly {subject!r}")
        if auds != ["sts.amazonaws.com"]:
            problems.append(f"{who}: trust aud is {auds}, expected sts.amazonaws.com")
    return problems


def _check_read_only(who: str, document: Any) -> list[str]:
    problems = []
    read_buckets: set[str] = set()
    listable: set[str] = set()
    for statement in statements(document):
        actions = set(as_list(statement.get("Action")))
        resources = as_list(statement.get("Resource"))
        if statement.get("Effect") != "Allow":
            continue
        extra = actions - REPLICA_READ_ACTIONS
        if extra:
            problems.append(f"{who}: grants more than model reads: {sorted(extra)}")
        if "*" in resources or any(r.endswith(":::*") for r in resources):
            problems.append(f"{who}: grants on every resource (*)")
        if actions & {"s3:GetObject", "s3:GetObjectVersion"}:
            for resource in resources:
                bucket_part, _, key_part = resource.partition("/")
                read_buckets.add(bucket_part)
                if not key_part or key_part == "*":
                    problems.append(f"{who}: object reads on the whole bucket {bucket_part}")
        if "s3:ListBucket" in actions:
            for resource in resources:
                if "/" in resource or "*" in resource:
                    problems.append(f"{who}: s3:ListBucket on {resource}, not one bucket ARN")
            if (statement.get("Condition") or {}).get("StringLike", {}).get("s3:prefix"):
                problems.append(
                    f"{who}: s3:ListBucket limited by s3:prefix: a missing key then answers "
                    "403 instead of 404 and reads as a store outage"
                )
            else:
                listable.update(resources)
    for bucket in sorted(read_buckets - listable):
        problems.append(
            f"{who}: reads objects of {bucket} without s3:ListBucket on it: a missing key "
            "answers 403 instead of 404"
        )
    return problems
