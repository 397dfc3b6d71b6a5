"""Each invariant catches a crafted bad stack (with a message naming why) and passes the
real prod stack it is derived from."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.policy import invariants
from tests.infra.harness import Resource, StackRun, run_stack


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return run_stack("prod")


def _mutate(
    run: StackRun, match: Callable[[Resource], bool], change: Callable[[dict[str, Any]], None]
) -> list[Resource]:
    """A deep copy of the stack's resources with ``change`` applied to every match."""
    resources = copy.deepcopy(run.resources)
    hits = [r for r in resources if match(r)]
    assert hits, "the mutation must hit at least one resource"
    for resource in hits:
        change(resource.props)
    return resources


def _k8s(kind: str, name: str) -> Callable[[Resource], bool]:
    return lambda r: r.props.get("kind") == kind and r.props["metadata"]["name"] == name


def _typ(resource_type: str, name_part: str = "") -> Callable[[Resource], bool]:
    return lambda r: r.resource_type == resource_type and name_part in r.name


def _pod(props: dict[str, Any]) -> dict[str, Any]:
    return props["spec"]["template"]["spec"]


def test_every_invariant_passes_on_prod(prod: StackRun) -> None:
    for name, invariant in invariants.INVARIANTS.items():
        assert invariant(prod.resources) == [], name


CASES = [
    (
        "zones_have_gpu_capacity",
        _typ("aws:eks/nodeGroup:NodeGroup", "gpu-eu-west-1b"),
        lambda p: p["labels"].pop("recdrill.io/zone"),
        "zone eu-west-1b has no GPU",
    ),
    (
        "zones_have_gpu_capacity",
        _typ("aws:eks/nodeGroup:NodeGroup", "gpu-eu-west-1a"),
        lambda p: p["scalingConfig"].update(minSize=0),
        "may scale to 0",
    ),
    (
        "zones_have_gpu_capacity",
        _typ("aws:eks/nodeGroup:NodeGroup", "gpu-eu-west-1a"),
        lambda p: p["labels"].update({"topology.kubernetes.io/zone": "eu-west-1a"}),
        "label topology.kubernetes.io/zone uses a prefix EKS rejects",
    ),
    (
        "zones_have_gpu_capacity",
        _typ("aws:eks/nodeGroup:NodeGroup", "gpu-eu-west-1c"),
        lambda p: p.update(taints=[]),
        "NoSchedule taint",
    ),
    (
        "zone_loss_keeps_peak",
        _k8s("Deployment", "recdrill-replica-standby"),
        lambda p: p["spec"].update(replicas=0),
        "only 4 replicas remain",
    ),
    (
        "zone_loss_keeps_peak",
        _typ("aws:eks/nodeGroup:NodeGroup", "gpu"),
        lambda p: p["scalingConfig"].update(maxSize=2),
        "GPU node groups can hold only 4",
    ),
    (
        "replicas_spread_over_zones",
        _k8s("Deployment", "recdrill-replica-active"),
        lambda p: _pod(p)["topologySpreadConstraints"][0].update(whenUnsatisfiable="DoNotSchedule"),
        "kubernetes#106127",
    ),
    (
        "replicas_spread_over_zones",
        _k8s("Deployment", "recdrill-replica-active"),
        lambda p: p["spec"].update(replicas=2),
        "2 replicas for 3 zones",
    ),
    (
        "workloads_hardened",
        _k8s("PodDisruptionBudget", "recdrill-router"),
        lambda p: p["spec"]["selector"].update(matchLabels={"app": "other"}),
        "recdrill-router: no PodDisruptionBudget",
    ),
    (
        "workloads_hardened",
        _k8s("Deployment", "recdrill-replica-standby"),
        lambda p: _pod(p)["containers"][0].pop("readinessProbe"),
        "no readinessProbe",
    ),
    (
        "workloads_hardened",
        _k8s("Deployment", "recdrill-router"),
        lambda p: _pod(p)["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
        "root filesystem is not read-only",
    ),
    (
        "buckets_hardened",
        _typ("aws:s3/bucketVersioning:BucketVersioning", "dr"),
        lambda p: p["versioningConfiguration"].update(status="Suspended"),
        "recdrill-models-prod-eu-central-1: versioning",
    ),
    (
        "buckets_hardened",
        _typ(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ),
        lambda p: p["rules"][0].update(bucketKeyEnabled=False),
        "without a bucket key",
    ),
    (
        "buckets_hardened",
        _typ("aws:kms/key:Key", "primary"),
        lambda p: p.update(enableKeyRotation=False),
        "rotation disabled",
    ),
    (
        "buckets_hardened",
        _typ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "primary"),
        lambda p: p.update(restrictPublicBuckets=False),
        "public access blocks",
    ),
    (
        "buckets_hardened",
        _typ("aws:s3/bucketPolicy:BucketPolicy", "primary"),
        lambda p: p.update(policy=json.dumps({"Statement": []})),
        "aws:SecureTransport",
    ),
    (
        "buckets_hardened",
        _typ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "primary"),
        lambda p: p["rules"][0].pop("noncurrentVersionExpiration"),
        "noncurrent versions",
    ),
    (
        "replication_has_rtc",
        _typ("aws:s3/bucketReplicationConfig:BucketReplicationConfig"),
        lambda p: p["rules"][0]["destination"].pop("metrics"),
        "metrics block",
    ),
    (
        "replication_has_rtc",
        _typ("aws:s3/bucketReplicationConfig:BucketReplicationConfig"),
        lambda p: p["rules"][0]["destination"]["replicationTime"]["time"].update(minutes=30),
        "not 15 min",
    ),
    (
        "replication_has_rtc",
        _typ("aws:s3/bucketReplicationConfig:BucketReplicationConfig"),
        lambda p: p["rules"][0].update(deleteMarkerReplication={"status": "Disabled"}),
        "delete markers",
    ),
    (
        "irsa_least_privilege",
        _typ("aws:iam/rolePolicy:RolePolicy", "read-models"),
        lambda p: p.update(policy=p["policy"].replace("/models/*", "/*")),
        "object reads on the whole bucket",
    ),
    (
        "irsa_least_privilege",
        _typ("aws:iam/rolePolicy:RolePolicy", "read-models"),
        lambda p: p.update(policy=p["policy"].replace('"s3:GetObject"', '"s3:PutObject"')),
        "more than model reads",
    ),
    (
        "irsa_least_privilege",
        _typ("aws:iam/role:Role", "replica-role"),
        lambda p: p.update(
            assumeRolePolicy=p["assumeRolePolicy"].replace(
                "recdrill:recdrill-replica", "recdrill:default"
            )
        ),
        "expected exactly 'system:serviceaccount:recdrill:recdrill-replica'",
    ),
]


@pytest.mark.parametrize(("invariant", "match", "change", "message"), CASES)
def test_invariant_catches_bad_input(
    prod: StackRun, invariant: str, match, change, message: str
) -> None:
    bad = _mutate(prod, match, change)
    problems = getattr(invariants, invariant)(bad)
    assert any(message in p for p in problems), problems


def test_prod_bucket_without_replication_is_caught(prod: StackRun) -> None:
    resources = [
        r
        for r in prod.resources
        if r.resource_type != "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
    ]
    problems = invariants.replication_has_rtc(resources)
    # Under mocks, resources register in whatever order their inputs resolve.
    assert sorted(problems) == [
        "prod bucket recdrill-models-prod-eu-central-1 is not replicated to a DR region",
        "prod bucket recdrill-models-prod-eu-west-1 is not replicated to a DR region",
    ]


def test_router_with_an_aws_role_is_caught(prod: StackRun) -> None:
    role_arn = next(
        r.props["arn"] for r in prod.of_type("aws:iam/role:Role") if "replica-role" in r.name
    )
    bad = _mutate(
        prod,
        _k8s("ServiceAccount", "recdrill-router"),
        lambda p: p["metadata"].update(annotations={"eks.amazonaws.com/role-arn": role_arn}),
    )
    problems = invariants.irsa_least_privilege(bad)
    assert any("router must not get an AWS role" in p for p in problems)
