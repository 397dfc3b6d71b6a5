"""staging: prod's three-AZ shape at small scale, single NAT, no DR region."""

from __future__ import annotations

import pytest

from tests.infra import stack_checks
from tests.infra.harness import StackRun, run_stack

ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@pytest.fixture(scope="module")
def run() -> StackRun:
    return run_stack("staging")


def test_three_zones_of_subnets_and_gpu_groups(run: StackRun) -> None:
    private = [
        s.props
        for s in run.of_type("aws:ec2/subnet:Subnet")
        if "internal-elb" in str(s.props["tags"])
    ]
    assert sorted(s["availabilityZone"] for s in private) == ZONES
    gpu = [
        g.props
        for g in run.of_type("aws:eks/nodeGroup:NodeGroup")
        if g.props["labels"].get("recdrill.io/pool") == "gpu"
    ]
    assert sorted(g["labels"]["recdrill.io/zone"] for g in gpu) == ZONES
    assert {g["scalingConfig"]["minSize"] for g in gpu} == {2}
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 1


def test_headroom_placeholders_hold_a_gpu_in_every_zone(run: StackRun) -> None:
    for zone in ZONES:
        pod = stack_checks.deployment(run, f"recdrill-headroom-{zone}")["spec"]["template"]
        assert pod["spec"]["priorityClassName"] == "recdrill-standby-placeholder"
        assert pod["spec"]["nodeSelector"] == {"topology.kubernetes.io/zone": zone}
        assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_eks_cluster_addons_and_oidc(run: StackRun) -> None:
    (cluster,) = run.of_type("aws:eks/cluster:Cluster")
    assert cluster.props["name"] == "recdrill-staging"
    for subnet in run.of_type("aws:ec2/subnet:Subnet"):
        assert subnet.props["tags"]["kubernetes.io/cluster/recdrill-staging"] == "shared"
    assert cluster.props["encryptionConfig"]["resources"] == ["secrets"]
    addons = {a.props["addonName"] for a in run.of_type("aws:eks/addon:Addon")}
    assert {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"} <= addons
    for group in run.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert "recdrill-staging-vpc-cni" in group.depends_on  # nodes need the CNI
    (coredns,) = [a for a in run.of_type("aws:eks/addon:Addon") if a.name.endswith("coredns")]
    assert "recdrill-staging-system" in coredns.depends_on
    (oidc,) = run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.props["clientIdLists"] == ["sts.amazonaws.com"]


def test_ecr_repository_is_immutable_and_scanned(run: StackRun) -> None:
    (repo,) = run.of_type("aws:ecr/repository:Repository")
    assert repo.props["imageTagMutability"] == "IMMUTABLE"
    assert repo.props["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.props["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    image = stack_checks.deployment(run, "recdrill-router")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == "123456789012.dkr.ecr.example/recdrill-staging:0.1.0"


def test_workloads_and_description(run: StackRun) -> None:
    stack_checks.assert_replica_pods(run, gpus=1)
    stack_checks.assert_policies(run)
    stack_checks.assert_description(run)


def test_manifests_validate_against_kubernetes_schema(run: StackRun) -> None:
    assert stack_checks.validate_manifests(run) == 28


def test_invariants_hold(run: StackRun) -> None:
    stack_checks.assert_invariants_hold(run)
