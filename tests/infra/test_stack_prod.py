"""prod: three AZs, NAT per AZ, standby capacity, model bucket replicated to a DR region."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from contracts.deployment import Deployment
from tests.infra import stack_checks
from tests.infra.harness import StackRun, shared_run

ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@pytest.fixture(scope="module")
def run() -> StackRun:
    return shared_run("prod")


def test_nat_per_zone_routes_each_zone_to_its_own_nat(run: StackRun) -> None:
    nats = run.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    private = [r for r in run.of_type("aws:ec2/routeTable:RouteTable") if "private" in r.name]
    assert len({r.props["routes"][0]["natGatewayId"] for r in private}) == 3
    for table in private:
        zone = table.name.rsplit("private-rt-", 1)[1]
        assert table.props["routes"][0]["natGatewayId"] == f"recdrill-prod-nat-{zone}-id"


def test_standby_capacity(run: StackRun) -> None:
    standby = stack_checks.deployment(run, "recdrill-replica-standby")
    assert standby["spec"]["replicas"] == 3
    for zone in ZONES:
        headroom = stack_checks.deployment(run, f"recdrill-headroom-{zone}")
        assert headroom["spec"]["replicas"] == 1
    (standby_service,) = run.k8s("Service", "recdrill-standby")
    assert standby_service["spec"]["clusterIP"] == "None"
    assert standby_service["spec"]["selector"]["recdrill.io/role"] == "standby"


def test_replication_to_dr_region_with_rtc(run: StackRun) -> None:
    (replication,) = run.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    (rule,) = replication.props["rules"]
    destination = rule["destination"]
    assert destination["bucket"] == "arn:aws:s3:::recdrill-models-prod-eu-central-1"
    assert destination["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
    assert destination["metrics"] == {"status": "Enabled", "eventThreshold": {"minutes": 15}}
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    buckets = {b.props["bucket"] for b in run.of_type("aws:s3/bucket:Bucket")}
    # The canary's run artifacts are regenerated every minute: not replicated.
    assert buckets == {
        "recdrill-models-prod-eu-west-1",
        "recdrill-models-prod-eu-central-1",
        "recdrill-models-prod-eu-west-1-canary",
    }
    (dr_provider,) = [p for p in run.provider_inputs if p["region"] == "eu-central-1"]
    assert dr_provider


def test_handoff_names_what_the_dr_stack_reads(run: StackRun) -> None:
    """prod-dr's StackReference reads these: its store's key and the alarm it steers on."""
    handoff = run.outputs["dr_handoff"]
    assert handoff["region"] == "eu-west-1"
    assert handoff["dr_bucket"] == "recdrill-models-prod-eu-central-1"
    (dr_key,) = [
        k for k in run.of_type("aws:kms/key:Key") if k.name == "recdrill-prod-models-dr-key"
    ]
    assert handoff["dr_key_arn"] == dr_key.props["arn"]
    alarms = {
        a.props.get("name"): a.props for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    ready = alarms[handoff["readiness_alarm"]]
    assert ready["treatMissingData"] == "breaching"
    (canary,) = [
        c.props for c in run.of_type("aws:synthetics/canary:Canary") if c.name.endswith("-ready")
    ]
    assert ready["dimensions"] == {"CanaryName": canary["name"]}
    env = canary["runConfig"]["environmentVariables"]
    assert env["READY_PATH"] == "/readyz"
    # A region answering only popular items (no replica left) fails over too.
    assert float(env["MAX_DEGRADED_RATIO"]) == run.outputs["slo"]["max_degraded_ratio"]
    # From every zone: losing one zone must not fail the whole region over.
    assert len(canary["vpcConfig"]["subnetIds"]) == 3


def test_rpo_alarms_watch_the_replication_rule(run: StackRun) -> None:
    alarms = {
        a.props["metricName"]: a.props
        for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.props.get("namespace") == "AWS/S3"
    }
    assert set(alarms) == {"ReplicationLatency", "OperationsPendingReplication"}
    for alarm in alarms.values():
        assert alarm["dimensions"] == {
            "SourceBucket": "recdrill-models-prod-eu-west-1",
            "DestinationBucket": "recdrill-models-prod-eu-central-1",
            "RuleId": "models-to-dr",
        }
    assert alarms["ReplicationLatency"]["threshold"] == 900
    pending = alarms["OperationsPendingReplication"]
    assert pending["period"] * pending["evaluationPeriods"] == 900


def test_replication_waits_for_versioning_on_both_buckets(run: StackRun) -> None:
    (replication,) = run.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert {
        "recdrill-prod-models-primary-versioning",
        "recdrill-prod-models-dr-versioning",
    } <= set(replication.depends_on)


def test_replication_role_is_least_privilege(run: StackRun) -> None:
    (policy,) = [
        p.props for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "replication" in p.name
    ]
    statements = json.loads(policy["policy"])["Statement"]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "s3:*" not in actions and "*" not in actions
    assert all(s["Resource"] != "*" for s in statements)


def test_irsa_role_reads_only_the_model_prefix(run: StackRun) -> None:
    (policy,) = [
        p.props for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "read-models" in p.name
    ]
    statements = json.loads(policy["policy"])["Statement"]
    reads = [s for s in statements if s["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]]
    assert [s["Resource"] for s in reads] == [
        "arn:aws:s3:::recdrill-models-prod-eu-west-1/models/*",
        "arn:aws:s3:::recdrill-models-prod-eu-central-1/models/*",
    ]
    (router_sa,) = run.k8s("ServiceAccount", "recdrill-router")
    assert "annotations" not in router_sa["metadata"]


def test_router_load_balancer_is_an_internal_nlb(run: StackRun) -> None:
    (service,) = run.k8s("Service", "recdrill-router")
    assert service["spec"]["type"] == "LoadBalancer"
    annotations = service["metadata"]["annotations"]
    # "external": handed to the AWS Load Balancer Controller (the stack installs it).
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert run.outputs["endpoint"] == "http://recdrill-prod-service-recdrill-router.elb.example"


def test_device_plugin_runs_on_gpu_nodes(run: StackRun) -> None:
    (plugin,) = run.k8s("DaemonSet", "nvidia-device-plugin")
    spec = plugin["spec"]["template"]["spec"]
    assert spec["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert spec["nodeSelector"] == {"recdrill.io/pool": "gpu"}


def test_workloads_and_description(run: StackRun) -> None:
    stack_checks.assert_replica_pods(run, gpus=1)
    stack_checks.assert_policies(run)
    stack_checks.assert_description(run, extra=("dr_handoff",))
    assert run.outputs["model_store"]["dr_url"] == "s3://recdrill-models-prod-eu-central-1/models"


def test_description_carries_the_drill_windows_and_reads_back(run: StackRun) -> None:
    assert run.outputs["environment_kind"] == "production"
    assert run.outputs["drill_windows"] == [
        {"days": "mon-fri", "start": "02:00", "end": "05:00", "tz": "Europe/Berlin"}
    ]
    assert run.outputs["traffic_ceiling_rps"] == 100
    described = Deployment.from_json(run.outputs)
    assert described.production and described.traffic_ceiling_rps == 100.0
    (window,) = described.drill_windows
    berlin = ZoneInfo("Europe/Berlin")
    assert window.contains(datetime(2026, 12, 1, 2, 30, tzinfo=berlin))  # a Tuesday
    assert not window.contains(datetime(2026, 12, 1, 5, 0, tzinfo=berlin))
    assert not window.contains(datetime(2026, 12, 5, 3, 0, tzinfo=berlin))  # a Saturday


def test_manifests_validate_against_kubernetes_schema(run: StackRun) -> None:
    # + the monitoring's scrape NetworkPolicy and dashboard ConfigMap (operator kinds are
    # skipped), - the namespace-wide replicas-from-prometheus policy they replace.
    assert stack_checks.validate_manifests(run) == 34


def test_invariants_hold(run: StackRun) -> None:
    stack_checks.assert_invariants_hold(run)
