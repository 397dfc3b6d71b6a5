"""staging: prod's three-AZ shape at small scale, a NAT per AZ, no DR region."""

from __future__ import annotations

import json

import pytest

from infra.aws.versions import ADDON_VERSIONS
from monitoring.rules import ALERT_NAMES
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
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 3


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
    addons = {a.props["addonName"]: a.props for a in run.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
        "metrics-server",
    }
    assert cluster.props["version"] == "1.35"
    assert cluster.props["upgradePolicy"] == {"supportType": "STANDARD"}
    assert {a["addonVersion"] for a in addons.values()} == set(ADDON_VERSIONS["1.35"].values())
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
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


def test_cluster_api_is_cidr_limited_with_a_break_glass_admin(run: StackRun) -> None:
    (cluster,) = run.of_type("aws:eks/cluster:Cluster")
    vpc = cluster.props["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]
    (entry,) = run.of_type("aws:eks/accessEntry:AccessEntry")
    (admin,) = run.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    arn = "arn:aws:iam::123456789012:role/recdrill-break-glass"
    assert entry.props["principalArn"] == admin.props["principalArn"] == arn
    assert admin.props["accessScope"] == {"type": "cluster"}


def test_nodes_launch_with_imdsv2_and_hop_limit_one(run: StackRun) -> None:
    templates = {
        t.props["name"]: t.props for t in run.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    }
    assert set(templates) == {"recdrill-staging-system", "recdrill-staging-gpu"}
    for template in templates.values():
        assert template["metadataOptions"]["httpTokens"] == "required"
        assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
    for group in run.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert group.props["launchTemplate"]["name"] in templates
        assert "diskSize" not in group.props  # not allowed next to a launch template


def test_cluster_autoscaler_reads_hints_from_each_gpu_asg(run: StackRun) -> None:
    (autoscaler,) = [
        r.props
        for r in run.of_type("kubernetes:helm.sh/v3:Release")
        if r.props["chart"] == "cluster-autoscaler"
    ]
    values = autoscaler["values"]
    assert values["autoDiscovery"] == {"clusterName": "recdrill-staging"}
    assert values["extraArgs"]["expendable-pods-priority-cutoff"] == -10
    assert values["image"]["tag"] == "v1.35.0"  # the autoscaler's minor is the cluster's
    tags = run.of_type("aws:autoscaling/tag:Tag")
    for zone in ZONES:
        (group,) = [g for g in run.of_type("aws:eks/nodeGroup:NodeGroup") if g.name.endswith(zone)]
        assert not any("cluster-autoscaler" in k for k in group.props["tags"])
        on_asg = {
            t.props["tag"]["key"]: t.props["tag"]["value"]
            for t in tags
            if t.props["autoscalingGroupName"] == f"eks-recdrill-staging-gpu-{zone}-asg"
        }
        template = "k8s.io/cluster-autoscaler/node-template"
        assert on_asg[f"{template}/label/topology.kubernetes.io/zone"] == zone
        assert on_asg[f"{template}/resources/nvidia.com/gpu"] == "1"
        assert on_asg[f"{template}/taint/nvidia.com/gpu"] == "true:NoSchedule"


def test_replicas_scale_on_request_rate_through_prometheus_adapter(run: StackRun) -> None:
    charts = {r.props["chart"]: r.props for r in run.of_type("kubernetes:helm.sh/v3:Release")}
    assert set(charts) == {
        "cluster-autoscaler",
        "aws-load-balancer-controller",
        "kube-prometheus-stack",
        "prometheus-adapter",
    }
    assert all(c["version"] for c in charts.values())
    (rule,) = charts["prometheus-adapter"]["values"]["rules"]["custom"]
    assert rule["seriesQuery"].startswith("recdrill_replica_requests_total{")
    assert rule["name"]["as"] == "recdrill_replica_recommend_rps"
    for zone in ZONES:
        (hpa,) = run.k8s("HorizontalPodAutoscaler", f"recdrill-replica-active-{zone}")
        (metric,) = hpa["spec"]["metrics"]
        assert metric["pods"]["metric"]["name"] == "recdrill_replica_recommend_rps"
        assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "300"}
        # After losing a zone the other two must carry the peak (3) between them.
        assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] >= 2
    # The adapter reads the Prometheus kube-prometheus-stack runs (fullnameOverride).
    stack = charts["kube-prometheus-stack"]
    assert stack["namespace"] == "monitoring" and stack["name"] == "kube-prometheus-stack"
    assert stack["values"]["fullnameOverride"] == "kube-prometheus-stack"
    assert charts["prometheus-adapter"]["values"]["prometheus"] == {
        "url": "http://kube-prometheus-stack-prometheus.monitoring.svc",
        "port": 9090,
    }
    # Scraping is through the PodMonitors, let in from the Prometheus pods only.
    assert not run.k8s("NetworkPolicy", "replicas-from-prometheus")
    (scrape,) = run.k8s("NetworkPolicy", "metrics-from-prometheus")
    assert scrape["spec"]["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]


def test_alert_rules_pod_monitors_and_dashboard_are_deployed(run: StackRun) -> None:
    (rule,) = run.k8s("PrometheusRule")
    assert rule["metadata"]["namespace"] == "recdrill"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert set(ALERT_NAMES) <= alerts
    # The capacity rules are per zone of this stack, thresholds from its SLO block.
    assert all(zone in json.dumps(rule["spec"]) for zone in ZONES)
    monitors = {m["metadata"]["name"] for m in run.k8s("PodMonitor")}
    assert monitors == {"recdrill-replica", "recdrill-router"}
    (dashboard,) = run.k8s("ConfigMap", "recdrill-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring"


def test_router_is_internal_and_its_egress_stays_in_the_vpc(run: StackRun) -> None:
    (service,) = run.k8s("Service", "recdrill-router")
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert service["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert service["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/16", "172.20.0.0/16"]
    (egress,) = run.k8s("NetworkPolicy", "router-to-replicas-and-api")
    for rule in egress["spec"]["egress"]:
        assert rule["to"]
    (ingress,) = run.k8s("NetworkPolicy", "router-from-clients")
    assert ingress["spec"]["ingress"][0]["from"] == [
        {"ipBlock": {"cidr": "10.0.0.0/16"}},
        {"ipBlock": {"cidr": "172.20.0.0/16"}},
    ]


def test_gpu_workloads_wait_for_the_device_plugin_but_not_for_placeholders(
    run: StackRun,
) -> None:
    gpu_deployments = [
        r
        for r in run.of_type("kubernetes:apps/v1:Deployment")
        if "nvidia.com/gpu" in str(r.props["spec"]["template"]["spec"]["containers"])
    ]
    assert len(gpu_deployments) == 3 + 1 + 3  # active per zone, standby, placeholders
    for deployment in gpu_deployments:
        assert "recdrill-staging-daemonset-nvidia-device-plugin" in deployment.depends_on
    for zone in ZONES:
        headroom = stack_checks.deployment(run, f"recdrill-headroom-{zone}")
        assert headroom["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
        strategy = stack_checks.active(run, zone)["spec"]["strategy"]["rollingUpdate"]
        assert strategy == {"maxSurge": 1, "maxUnavailable": 0}  # onto the placeholder's GPU


def test_workloads_and_description(run: StackRun) -> None:
    stack_checks.assert_replica_pods(run, gpus=1)
    stack_checks.assert_policies(run)
    stack_checks.assert_description(run)


def test_manifests_validate_against_kubernetes_schema(run: StackRun) -> None:
    # + the scrape NetworkPolicy and dashboard ConfigMap of the monitoring (operator
    # kinds are skipped), - the namespace-wide replicas-from-prometheus it replaces.
    assert stack_checks.validate_manifests(run) == 34


def test_invariants_hold(run: StackRun) -> None:
    stack_checks.assert_invariants_hold(run)


def _templates(run: StackRun) -> dict[str, dict]:
    return {
        t.props["tags"]["recdrill:zone"]: t.props
        for t in run.of_type("aws:fis/experimentTemplate:ExperimentTemplate")
    }


def test_a_fis_power_interruption_template_per_zone(run: StackRun) -> None:
    templates = _templates(run)
    assert sorted(templates) == ZONES
    assert run.outputs["fis_templates"] == {
        zone: f"recdrill-staging-zone-loss-{zone}-id" for zone in ZONES
    }
    subnets = {s.name: s.props["arn"] for s in run.of_type("aws:ec2/subnet:Subnet")}
    for zone, template in templates.items():
        targets = {t["name"]: t for t in template["targets"]}
        nodes = targets["gpu-nodes"]
        assert nodes["resourceType"] == "aws:ec2:instance"
        assert nodes["resourceTags"] == [
            {"key": "eks:nodegroup-name", "value": f"recdrill-staging-gpu-{zone}"}
        ]
        assert {"path": "Placement.AvailabilityZone", "values": [zone]} in nodes["filters"]
        assert sorted(targets["zone-subnets"]["resourceArns"]) == sorted(
            [
                subnets[f"recdrill-staging-private-{zone}"],
                subnets[f"recdrill-staging-public-{zone}"],
            ]
        )
        actions = {a["actionId"]: a for a in template["actions"]}
        assert set(actions) == {
            "aws:ec2:stop-instances",
            "aws:ec2:asg-insufficient-instance-capacity-error",
            "aws:network:disrupt-connectivity",
        }
        params = {p["key"]: p["value"] for p in actions["aws:ec2:stop-instances"]["parameters"]}
        # Stopped nodes come back when the experiment ends or is stopped (zone_up).
        assert params == {"startInstancesAfterDuration": "PT20M"}
        (stop,) = template["stopConditions"]
        assert stop == {
            "source": "aws:cloudwatch:alarm",
            "value": f"arn:aws:mock:::MetricAlarm/recdrill-staging-canary-{zone}-slo",
        }


def test_each_stop_alarm_watches_the_routers_slo_from_the_other_zones(run: StackRun) -> None:
    canaries = {
        c.props["tags"]["recdrill:zone"]: c.props
        for c in run.of_type("aws:synthetics/canary:Canary")
    }
    alarms = {
        a.props["tags"]["recdrill:zone"]: a.props
        for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert sorted(canaries) == sorted(alarms) == ZONES
    for zone in ZONES:
        canary, alarm = canaries[zone], alarms[zone]
        # A canary in the zone being cut would fail because of the fault itself.
        assert sorted(canary["vpcConfig"]["subnetIds"]) == [
            f"recdrill-staging-private-{z}-id" for z in ZONES if z != zone
        ]
        env = canary["runConfig"]["environmentVariables"]
        assert env["ROUTER_URL"] == run.outputs["endpoint"]
        assert float(env["MAX_ERROR_RATIO"]) == pytest.approx(1 - 0.999)
        assert float(env["P99_MS"]) == run.outputs["slo"]["p99_ms"]
        assert canary["handler"] == "router_canary.handler"
        assert alarm["namespace"] == "CloudWatchSynthetics"
        assert alarm["metricName"] == "SuccessPercent"
        assert alarm["dimensions"] == {"CanaryName": canary["name"]}
        assert alarm["treatMissingData"] == "breaching"


def test_the_fis_role_is_trusted_by_fis_only_and_scoped_to_the_cluster(run: StackRun) -> None:
    (role,) = [r.props for r in run.of_type("aws:iam/role:Role") if "zone-loss" in r.name]
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"}
    (policy,) = [
        p.props for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "zone-loss" in p.name
    ]
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    stop = statements["StopStartThisClustersGpuNodes"]["Condition"]["StringEquals"]
    assert stop["aws:ResourceTag/eks:cluster-name"] == "recdrill-staging"
    assert sorted(stop["aws:ResourceTag/eks:nodegroup-name"]) == [
        f"recdrill-staging-gpu-{z}" for z in ZONES
    ]
    inject = statements["NoCapacityForTheGpuGroups"]["Condition"]
    assert sorted(inject["ForAllValues:ArnLike"]["ec2:FisTargetArns"]) == [
        f"arn:aws:autoscaling:eu-west-1:*:autoScalingGroup:*:autoScalingGroupName/"
        f"eks-recdrill-staging-gpu-{z}-asg"
        for z in ZONES
    ]
