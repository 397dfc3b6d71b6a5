"""prod-dr: the warm-standby region, built from prod's mocked outputs through its
StackReference (tests/infra/harness.py), with the Route 53 failover steering."""

from __future__ import annotations

import pytest

from contracts.deployment import Deployment
from tests.infra import stack_checks
from tests.infra.harness import StackRun, shared_run

ZONES = ["eu-central-1a", "eu-central-1b"]
TARGET = "s3://recdrill-models-prod-eu-central-1/models"


@pytest.fixture(scope="module")
def run() -> StackRun:
    return shared_run("prod-dr")


def test_description_lists_both_regions_behind_the_steered_endpoint(run: StackRun) -> None:
    stack_checks.assert_description(run, extra=("regions",))
    description = Deployment.from_json(run.outputs)
    assert description.endpoint == "http://recommend.shop.internal"
    primary, dr = description.regions
    assert (primary.role, primary.name, dr.role, dr.name) == (
        "primary",
        "eu-west-1",
        "dr",
        "eu-central-1",
    )
    assert primary.endpoint == shared_run("prod").outputs["endpoint"]
    assert primary.store_url == "s3://recdrill-models-prod-eu-west-1/models"
    assert dr.store_url == TARGET == description.model_store.url
    assert dr.zones == tuple(ZONES)
    assert dr.replication_window_s == 900.0


def test_replicas_read_only_the_replication_target(run: StackRun) -> None:
    for zone in ZONES:
        command = stack_checks.active(run, zone)["spec"]["template"]["spec"]["containers"][0]
        assert command["command"][command["command"].index("--store") + 1] == TARGET
    # The DR stack creates no model bucket: the primary's stack owns and replicates it.
    buckets = {b.props["bucket"] for b in run.of_type("aws:s3/bucket:Bucket")}
    assert buckets == {"recdrill-models-prod-eu-central-1-canary"}
    assert not run.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")


def test_failover_records_steer_on_readiness_alarms(run: StackRun) -> None:
    records = {
        r.props["failoverRoutingPolicies"][0]["type"]: r
        for r in run.of_type("aws:route53/record:Record")
    }
    assert set(records) == {"PRIMARY", "SECONDARY"}
    prod = shared_run("prod").outputs
    assert records["PRIMARY"].props["records"] == [prod["endpoint"].removeprefix("http://")]
    for record in records.values():
        assert record.props["name"] == "recommend.shop.internal"
        assert record.props["zoneId"] == "Z0123456789EXAMPLE"
        assert record.props["type"] == "CNAME" and record.props["ttl"] == 30
    checks = {
        role: records[role].property_dependencies["healthCheckId"][0].props
        for role in ("PRIMARY", "SECONDARY")
    }
    assert checks["PRIMARY"]["cloudwatchAlarmName"] == prod["dr_handoff"]["readiness_alarm"]
    assert checks["PRIMARY"]["cloudwatchAlarmRegion"] == "eu-west-1"
    assert checks["SECONDARY"]["cloudwatchAlarmName"] == (
        "recdrill-prod-dr-eu-central-1-router-ready"
    )
    assert checks["SECONDARY"]["cloudwatchAlarmRegion"] == "eu-central-1"
    for check in checks.values():
        assert check["type"] == "CLOUDWATCH_METRIC"
        assert check["insufficientDataHealthStatus"] == "Unhealthy"


def test_warm_standby_is_small_and_scales_to_prod(run: StackRun) -> None:
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in run.k8s("HorizontalPodAutoscaler")
    }
    for zone in ZONES:
        assert stack_checks.active(run, zone)["spec"]["replicas"] == 1
        assert hpas[f"recdrill-replica-active-{zone}"]["minReplicas"] == 1
    assert sum(hpas[f"recdrill-replica-active-{z}"]["maxReplicas"] for z in ZONES) == 18
    groups = [g for g in run.of_type("aws:eks/nodeGroup:NodeGroup") if "gpu" in g.name]
    assert sorted(g.props["scalingConfig"]["minSize"] for g in groups) == [1, 1]


def test_workloads_and_invariants(run: StackRun) -> None:
    stack_checks.assert_replica_pods(run, gpus=1)
    stack_checks.assert_policies(run)
    stack_checks.assert_invariants_hold(run)


def test_scraped_series_carry_the_region(run: StackRun) -> None:
    """The stale-DR alert (monitoring/rules.py) tells the regions apart by these labels."""
    for monitor in run.k8s("PodMonitor"):
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        labels = {r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"]}
        assert labels == {"region": "eu-central-1", "region_role": "dr"}
    prod = shared_run("prod")
    for monitor in prod.k8s("PodMonitor"):
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert {r["replacement"] for r in endpoint["relabelings"]} == {"eu-west-1", "primary"}
