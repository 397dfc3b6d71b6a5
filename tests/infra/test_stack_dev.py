"""dev: two AZs, a single NAT, small GPU groups; the program under Pulumi mocks."""

from __future__ import annotations

import pytest

from tests.infra import stack_checks
from tests.infra.harness import StackRun, run_stack


@pytest.fixture(scope="module")
def run() -> StackRun:
    return run_stack("dev")


def test_each_zone_leaves_through_its_own_nat(run: StackRun) -> None:
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 2
    routes = run.of_type("aws:ec2/routeTable:RouteTable")
    private = [r for r in routes if "private" in r.name]
    assert len(private) == 2
    nat_ids = {r.props["routes"][0]["natGatewayId"] for r in private}
    assert len(nat_ids) == 2


def test_rollouts_replace_instead_of_surging_without_spare_gpus(run: StackRun) -> None:
    """dev has no headroom placeholders: a surge would wait for a fifth GPU forever."""
    assert run.k8s("Deployment", "recdrill-headroom-eu-west-1a") == []
    for name in ("recdrill-replica-active-eu-west-1a", "recdrill-replica-standby"):
        strategy = stack_checks.deployment(run, name)["spec"]["strategy"]["rollingUpdate"]
        assert strategy == {"maxSurge": 0, "maxUnavailable": 1}
    router = stack_checks.deployment(run, "recdrill-router")["spec"]["strategy"]
    assert router["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_subnets_carry_eks_load_balancer_tags(run: StackRun) -> None:
    subnets = run.of_type("aws:ec2/subnet:Subnet")
    public = [s for s in subnets if s.props["tags"].get("kubernetes.io/role/elb") == "1"]
    private = [s for s in subnets if s.props["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    assert {s.props["availabilityZone"] for s in public} == {"eu-west-1a", "eu-west-1b"}
    assert {s.props["availabilityZone"] for s in private} == {"eu-west-1a", "eu-west-1b"}


def test_one_gpu_node_group_per_zone(run: StackRun) -> None:
    groups = [
        g.props
        for g in run.of_type("aws:eks/nodeGroup:NodeGroup")
        if g.props.get("amiType") == "AL2023_x86_64_NVIDIA"
    ]
    assert sorted(g["labels"]["recdrill.io/zone"] for g in groups) == [
        "eu-west-1a",
        "eu-west-1b",
    ]
    for group in groups:
        assert group["scalingConfig"] == {"minSize": 1, "desiredSize": 2, "maxSize": 3}
        assert group["launchTemplate"]["name"] == "recdrill-dev-gpu"
        assert len(group["subnetIds"]) == 1
        assert group["taints"] == [
            {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
        ]


def test_no_dr_bucket_without_replication(run: StackRun) -> None:
    # The model bucket, and the router canary's artifacts (no DR copy either).
    assert sorted(b.props["bucket"] for b in run.of_type("aws:s3/bucket:Bucket")) == [
        "recdrill-models-dev-eu-west-1",
        "recdrill-models-dev-eu-west-1-canary",
    ]
    assert run.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    assert run.outputs["model_store"]["dr_url"] is None


def test_workloads_and_description(run: StackRun) -> None:
    stack_checks.assert_replica_pods(run, gpus=1)
    stack_checks.assert_policies(run)
    stack_checks.assert_description(run)
    assert run.outputs["model_store"]["url"] == "s3://recdrill-models-dev-eu-west-1/models"


def test_manifests_validate_against_kubernetes_schema(run: StackRun) -> None:
    # + the monitoring's scrape NetworkPolicy and dashboard ConfigMap (operator kinds are
    # skipped), - the namespace-wide replicas-from-prometheus policy they replace.
    assert stack_checks.validate_manifests(run) == 29


def test_invariants_hold(run: StackRun) -> None:
    stack_checks.assert_invariants_hold(run)


def test_first_bring_up_can_stop_before_the_workloads() -> None:
    infra_only = run_stack("dev", {"recdrill:deploy_workloads": False})
    types = {r.resource_type for r in infra_only.resources}
    # The cluster's controllers (autoscaler, load balancer controller, metrics) come up
    # in phase one; none of the recommender's own objects do.
    assert {t for t in types if t.startswith("kubernetes:")} == {"kubernetes:helm.sh/v3:Release"}
    assert {"aws:eks/cluster:Cluster", "aws:ecr/repository:Repository"} <= types
    assert infra_only.outputs["endpoint"] == ""
    # Nothing to drill yet: no canaries, no FIS templates, no fis_templates output.
    assert not infra_only.of_type("aws:fis/experimentTemplate:ExperimentTemplate")
    assert not infra_only.of_type("aws:synthetics/canary:Canary")
    assert "fis_templates" not in infra_only.outputs
    stack_checks.assert_invariants_hold(infra_only)
