"""Each invariant catches a crafted bad stack (with a message naming why) and passes the
real prod stack it is derived from."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.policy import invariants
from tests.infra.harness import Resource, StackRun, shared_run


@pytest.fixture(scope="module")
def prod() -> StackRun:
    return shared_run("prod")


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


def _unpin_with_hard_spread(props: dict[str, Any]) -> None:
    pod = _pod(props)
    pod.pop("nodeSelector")
    pod["topologySpreadConstraints"].insert(
        0,
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
        },
    )


def _prefix_limited_list(policy: str) -> str:
    document = json.loads(policy)
    for statement in document["Statement"]:
        if statement["Action"] == "s3:ListBucket":
            statement["Condition"] = {"StringLike": {"s3:prefix": ["models", "models/*"]}}
    return json.dumps(document)


def _fis_statement(sid: str, change: Callable[[dict[str, Any]], None]) -> Callable:
    """Change one statement of the FIS role's policy (found by its Sid)."""

    def apply(props: dict[str, Any]) -> None:
        document = json.loads(props["policy"])
        (statement,) = [s for s in document["Statement"] if s["Sid"] == sid]
        change(statement)
        props["policy"] = json.dumps(document)

    return apply


def _without_list(policy: str) -> str:
    document = json.loads(policy)
    document["Statement"] = [s for s in document["Statement"] if s["Action"] != "s3:ListBucket"]
    return json.dumps(document)


def _release(chart: str) -> Callable[[Resource], bool]:
    return lambda r: r.resource_type.endswith("Release") and r.props["chart"] == chart


def _addon(name: str) -> Callable[[Resource], bool]:
    return lambda r: r.resource_type == "aws:eks/addon:Addon" and r.props["addonName"] == name


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
        _k8s("Deployment", "recdrill-replica-active-eu-west-1a"),
        lambda p: _unpin_with_hard_spread(p),
        "kubernetes#106127",
    ),
    (
        "replicas_spread_over_zones",
        _k8s("Deployment", "recdrill-replica-active-eu-west-1b"),
        lambda p: p["spec"].update(replicas=0),
        "zone eu-west-1b has no active replica pinned to it",
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
    (
        "irsa_least_privilege",
        _typ("aws:iam/rolePolicy:RolePolicy", "read-models"),
        lambda p: p.update(policy=_prefix_limited_list(p["policy"])),
        "limited by s3:prefix: a missing key then answers 403",
    ),
    (
        "irsa_least_privilege",
        _typ("aws:iam/rolePolicy:RolePolicy", "read-models"),
        lambda p: p.update(policy=_without_list(p["policy"])),
        "without s3:ListBucket on it",
    ),
    (
        "network_policies_enforced",
        _addon("vpc-cni"),
        lambda p: p.pop("configurationValues"),
        '"enableNetworkPolicy": "true"',
    ),
    (
        "versions_pinned",
        _addon("metrics-server"),
        lambda p: p.pop("addonVersion"),
        "add-on metrics-server: addonVersion not pinned",
    ),
    (
        "versions_pinned",
        _typ("aws:eks/cluster:Cluster"),
        lambda p: p.pop("upgradePolicy"),
        "upgradePolicy.supportType not set",
    ),
    (
        "versions_pinned",
        _release("kube-prometheus-stack"),
        lambda p: p.pop("version"),
        "Helm release kube-prometheus-stack: chart version not pinned",
    ),
    (
        "alert_rules_deployed",
        _k8s("PrometheusRule", "recdrill-rules"),
        lambda p: p["metadata"]["labels"].update(release="prometheus"),
        "label release='prometheus' selects no installed kube-prometheus-stack",
    ),
    (
        "alert_rules_deployed",
        _k8s("PrometheusRule", "recdrill-rules"),
        lambda p: p["spec"].update(
            groups=[g for g in p["spec"]["groups"] if not any("alert" in r for r in g["rules"])]
        ),
        "no PrometheusRule with alert rules",
    ),
    (
        "alert_rules_deployed",
        _release("prometheus-adapter"),
        # The plain prometheus chart's Service, as before kube-prometheus-stack.
        lambda p: p["values"]["prometheus"].update(url="http://prometheus-server.monitoring.svc"),
        "prometheus-adapter reads 'http://prometheus-server.monitoring.svc', not the stack's",
    ),
    (
        "cluster_access_locked",
        _typ("aws:eks/cluster:Cluster"),
        lambda p: p["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=[]),
        "API endpoint is public to 0.0.0.0/0",
    ),
    (
        "cluster_access_locked",
        _typ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"),
        lambda p: p.update(policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"),
        "no break-glass access entry with cluster admin",
    ),
    (
        "nodes_imdsv2_only",
        _typ("aws:ec2/launchTemplate:LaunchTemplate", "gpu"),
        lambda p: p["metadataOptions"].update(httpTokens="optional"),
        "node group gpu eu-west-1a: IMDSv1 allowed",
    ),
    (
        "nodes_imdsv2_only",
        _typ("aws:ec2/launchTemplate:LaunchTemplate", "system"),
        lambda p: p["metadataOptions"].update(httpPutResponseHopLimit=2),
        "hop limit is not 1",
    ),
    (
        "nodes_imdsv2_only",
        _typ("aws:eks/nodeGroup:NodeGroup", "gpu-eu-west-1c"),
        lambda p: p.pop("launchTemplate"),
        "node group gpu eu-west-1c: no launch template",
    ),
    (
        "node_autoscaler_installed",
        _k8s("PriorityClass", "recdrill-standby-placeholder"),
        lambda p: p.update(value=-11),
        "below the autoscaler's expendable cutoff -10",
    ),
    (
        "autoscaling_has_signal",
        _k8s("HorizontalPodAutoscaler", "recdrill-replica-active-eu-west-1b"),
        lambda p: p["spec"].update(
            metrics=[
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization"}},
                }
            ]
        ),
        "HPA recdrill-replica-active-eu-west-1b scales GPU replicas on CPU",
    ),
    (
        "pdbs_allow_disruption",
        _k8s("PodDisruptionBudget", "recdrill-router"),
        lambda p: (p["spec"].pop("maxUnavailable"), p["spec"].update(minAvailable=3)),
        "recdrill/recdrill-router allows no disruption of its 3 pods",
    ),
    (
        "rollouts_fit_spare_gpus",
        _k8s("Deployment", "recdrill-headroom-eu-west-1a"),
        lambda p: p["spec"].update(replicas=0),
        "recdrill-replica-active-eu-west-1a surges 1 pod(s) × 1 GPU but zone eu-west-1a",
    ),
    (
        "router_not_public",
        _k8s("Service", "recdrill-router"),
        lambda p: (
            p["metadata"]["annotations"].update(
                {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}
            ),
            p["spec"].pop("loadBalancerSourceRanges"),
        ),
        "an internet-facing load balancer",
    ),
    (
        "router_egress_inside",
        _k8s("NetworkPolicy", "router-to-replicas-and-api"),
        lambda p: p["spec"]["egress"][1].pop("to"),
        "an egress rule to anywhere",
    ),
    (
        "router_egress_inside",
        _k8s("NetworkPolicy", "router-to-replicas-and-api"),
        lambda p: p["spec"]["egress"][1].update(to=[{"ipBlock": {"cidr": "0.0.0.0/0"}}]),
        "egress to 0.0.0.0/0 leaves the VPC",
    ),
    (
        "tokens_only_where_needed",
        _k8s("Deployment", "recdrill-replica-standby"),
        lambda p: _pod(p).pop("automountServiceAccountToken"),
        "recdrill/recdrill-replica-standby: mounts a ServiceAccount token",
    ),
    (
        "tokens_only_where_needed",
        _k8s("DaemonSet", "nvidia-device-plugin"),
        lambda p: _pod(p).update(automountServiceAccountToken=True),
        "kube-system/nvidia-device-plugin: mounts a ServiceAccount token",
    ),
]


FIS_POLICY = _typ("aws:iam/rolePolicy:RolePolicy", "zone-loss-policy")
FIS_TEMPLATE = _typ("aws:fis/experimentTemplate:ExperimentTemplate", "eu-west-1a")

CASES += [
    (
        "zone_loss_templates",
        FIS_TEMPLATE,
        lambda p: p.update(stopConditions=[{"source": "none"}]),
        "FIS template for eu-west-1a: no CloudWatch alarm stop condition",
    ),
    (
        "zone_loss_templates",
        FIS_TEMPLATE,
        lambda p: p["stopConditions"][0].update(value="arn:aws:cloudwatch:::alarm:someone-elses"),
        "stop alarm arn:aws:cloudwatch:::alarm:someone-elses is not of this stack",
    ),
    (
        "zone_loss_templates",
        FIS_TEMPLATE,
        lambda p: p["stopConditions"][0].update(
            value=p["stopConditions"][0]["value"].replace("eu-west-1a", "eu-west-1b")
        ),
        "stops on the alarm for eu-west-1b, whose canary runs in the zone this template cuts",
    ),
    (
        "zone_loss_templates",
        FIS_TEMPLATE,
        lambda p: p.update(
            actions=[a for a in p["actions"] if a["actionId"] != "aws:network:disrupt-connectivity"]
        ),
        "lacks ['aws:network:disrupt-connectivity'] (not a power interruption)",
    ),
    (
        "zone_loss_templates",
        FIS_TEMPLATE,
        lambda p: p.update(roleArn="arn:aws:iam::123456789012:role/Admin"),
        "its role is not a FIS role of this stack",
    ),
    (
        "fis_role_scoped",
        FIS_POLICY,
        _fis_statement("StopStartThisClustersGpuNodes", lambda s: s.pop("Condition")),
        "may stop instances not tagged eks:cluster-name of this stack's cluster",
    ),
    (
        "fis_role_scoped",
        FIS_POLICY,
        _fis_statement(
            "StopStartThisClustersGpuNodes",
            lambda s: s["Condition"]["StringEquals"].update(
                {"aws:ResourceTag/eks:cluster-name": "another-cluster"}
            ),
        ),
        "may stop instances not tagged eks:cluster-name of this stack's cluster",
    ),
    (
        "fis_role_scoped",
        FIS_POLICY,
        _fis_statement(
            "StopStartThisClustersGpuNodes", lambda s: s["Action"].append("ec2:TerminateInstances")
        ),
        "grants more than zone loss needs: ['ec2:TerminateInstances']",
    ),
    (
        "fis_role_scoped",
        FIS_POLICY,
        _fis_statement(
            "SwapAclsOfThisStacksSubnets",
            lambda s: (s.update(Resource="*"), s.pop("Condition")),
        ),
        "SwapAclsOfThisStacksSubnets allows ['ec2:ReplaceNetworkAclAssociation'] on * with no "
        "condition",
    ),
]


REMOVALS = [
    (
        "node_autoscaler_installed",
        _release("cluster-autoscaler"),
        "no Cluster Autoscaler",
    ),
    (
        "node_autoscaler_installed",
        lambda r: r.resource_type == "aws:autoscaling/tag:Tag" and "eu-west-1b-resources" in r.name,
        "zone eu-west-1b: its Auto Scaling group lacks the "
        "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu tag",
    ),
    ("autoscaling_has_signal", _addon("metrics-server"), "metrics-server is not installed"),
    (
        "autoscaling_has_signal",
        _release("prometheus-adapter"),
        "prometheus-adapter is not installed",
    ),
    (
        "router_not_public",
        _release("aws-load-balancer-controller"),
        "without the AWS Load Balancer Controller installed do nothing",
    ),
    (
        "alert_rules_deployed",
        _release("kube-prometheus-stack"),
        "EKS stack without kube-prometheus-stack",
    ),
    (
        "alert_rules_deployed",
        lambda r: r.props.get("kind") == "PrometheusRule",
        "no PrometheusRule with alert rules",
    ),
    (
        "alert_rules_deployed",
        lambda r: r.props.get("kind") == "PodMonitor",
        "no PodMonitor",
    ),
    (
        "zone_loss_templates",
        _typ("aws:fis/experimentTemplate:ExperimentTemplate", "eu-west-1b"),
        "zone eu-west-1b: no FIS zone-loss experiment template",
    ),
]


@pytest.mark.parametrize(("invariant", "match", "message"), REMOVALS)
def test_invariant_catches_a_missing_resource(
    prod: StackRun, invariant: str, match, message: str
) -> None:
    kept = [r for r in prod.resources if not match(r)]
    assert len(kept) < len(prod.resources), "the removal must hit at least one resource"
    problems = getattr(invariants, invariant)(kept)
    assert any(message in p for p in problems), problems


def test_a_shared_nat_is_a_zone_single_point_of_failure(prod: StackRun) -> None:
    """Route zone b's private subnet through zone a's NAT, as a single-NAT stack does."""
    resources = copy.deepcopy(prod.resources)
    nats = {r.name: r for r in resources if r.resource_type == "aws:ec2/natGateway:NatGateway"}
    (table,) = [r for r in resources if r.name == "recdrill-prod-private-rt-eu-west-1b"]
    assert invariants.no_zone_spof(resources) == []
    table.property_dependencies["routes"] = [nats["recdrill-prod-nat-eu-west-1a"]]
    assert invariants.no_zone_spof(resources) == [
        "private subnet in eu-west-1b routes through NAT recdrill-prod-nat-eu-west-1a in "
        "eu-west-1a: losing that zone cuts eu-west-1b's egress (zone single point of failure)"
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


def test_fis_role_with_a_managed_policy_is_caught(prod: StackRun) -> None:
    (role,) = [r for r in prod.of_type("aws:iam/role:Role") if "zone-loss-role" in r.name]
    assert invariants.fis_role_scoped(prod.resources) == []
    admin = Resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "admin",
        {"role": role.props["name"], "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    problems = invariants.fis_role_scoped([*prod.resources, admin])
    assert problems == [f"FIS role {role.props['name']}: managed policies are attached"]
