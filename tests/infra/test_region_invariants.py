"""Each region-pair invariant catches a crafted bad prod-dr (or prod) stack, with a
message naming why; the real stacks pass them (test_stack_prod_dr.py, test_invariants.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.policy import regions
from tests.infra.harness import Resource, StackRun, shared_run

PRIMARY_STORE = "s3://recdrill-models-prod-eu-west-1/models"


@pytest.fixture(scope="module")
def dr() -> StackRun:
    return shared_run("prod-dr")


def _broken(
    run: StackRun, match: Callable[[Resource], bool], change: Callable[[Resource], None]
) -> list[Resource]:
    """A deep copy (links between resources kept) with ``change`` applied to each match."""
    resources = copy.deepcopy(run.resources)
    hits = [r for r in resources if match(r)]
    assert hits, "the change must hit at least one resource"
    for resource in hits:
        change(resource)
    return resources


def _check(role: str) -> Callable[[Resource], bool]:
    return lambda r: r.resource_type == regions.HEALTH_CHECK and r.name.endswith(f"-{role}")


def _record(role: str) -> Callable[[Resource], bool]:
    return lambda r: r.resource_type == regions.RECORD and r.name.endswith(f"-{role}")


def _set(**props: Any) -> Callable[[Resource], None]:
    return lambda r: r.props.update(props)


def test_dr_judged_in_the_primary_region_is_caught(dr: StackRun) -> None:
    bad = _broken(dr, _check("dr"), _set(cloudwatchAlarmRegion="eu-west-1"))
    assert regions.dr_region_differs(bad) == [
        "failover record recommend.shop.internal: PRIMARY and SECONDARY are both judged in "
        "eu-west-1: the DR region must differ from the primary",
        "the DR region is the primary's region eu-west-1",
    ]


def test_a_failover_record_without_health_check_is_caught(dr: StackRun) -> None:
    bad = _broken(dr, _record("primary"), lambda r: r.property_dependencies.clear())
    assert regions.dr_region_differs(bad) == [
        "failover record recommend.shop.internal (PRIMARY) has no health check"
    ]


def test_a_missing_secondary_record_is_caught(dr: StackRun) -> None:
    kept = [r for r in dr.resources if not _record("dr")(r)]
    (problem,) = regions.dr_region_differs(kept)
    assert "needs exactly one PRIMARY and one SECONDARY" in problem


def test_replicas_reading_the_primary_store_are_caught(dr: StackRun) -> None:
    def primary_store(resource: Resource) -> None:
        command = resource.props["spec"]["template"]["spec"]["containers"][0]["command"]
        command[command.index("--store") + 1] = PRIMARY_STORE

    bad = _broken(
        dr,
        lambda r: (
            r.props.get("kind") == "Deployment"
            and r.props["metadata"]["name"] == "recdrill-replica-active-eu-central-1a"
        ),
        primary_store,
    )
    (problem,) = regions.dr_reads_replication_target(bad)
    assert problem.startswith(
        "Deployment recdrill-replica-active-eu-central-1a reads the primary's store "
        f"{PRIMARY_STORE}, lost with the primary region"
    )


def test_irsa_reading_another_bucket_is_caught(dr: StackRun) -> None:
    def widen(resource: Resource) -> None:
        document = json.loads(resource.props["policy"])
        for statement in document["Statement"]:
            if "s3:GetObject" in statement["Action"]:
                statement["Resource"] = [
                    statement["Resource"],
                    "arn:aws:s3:::recdrill-models-prod-eu-west-1/models/*",
                ]
        resource.props["policy"] = json.dumps(document)

    bad = _broken(dr, lambda r: r.name.endswith("-read-models"), widen)
    assert regions.dr_reads_replication_target(bad) == [
        "the DR replicas' IRSA reads ['recdrill-models-prod-eu-west-1'] besides the "
        "replication target recdrill-models-prod-eu-central-1"
    ]


def test_a_readiness_canary_off_readyz_is_caught(dr: StackRun) -> None:
    def healthz(resource: Resource) -> None:
        resource.props["runConfig"]["environmentVariables"]["READY_PATH"] = "/healthz"

    bad = _broken(
        dr, lambda r: r.resource_type == regions.CANARY and r.name.endswith("-ready"), healthz
    )
    (problem,) = regions.steering_checks_readiness(bad)
    assert "its canary probes '/healthz', not the router's /readyz" in problem


def test_the_primary_stack_checks_its_own_readiness_canary() -> None:
    prod = shared_run("prod")

    def healthz(resource: Resource) -> None:
        resource.props["runConfig"]["environmentVariables"]["READY_PATH"] = "/healthz"

    bad = _broken(
        prod, lambda r: r.resource_type == regions.CANARY and r.name.endswith("-ready"), healthz
    )
    assert len(regions.steering_checks_readiness(bad)) == 1


def test_an_http_check_on_the_wrong_path_is_caught(dr: StackRun) -> None:
    bad = _broken(dr, _check("primary"), _set(type="HTTP", resourcePath="/healthz"))
    assert regions.steering_checks_readiness(bad) == [
        "health check of recommend.shop.internal (PRIMARY): probes '/healthz', not /readyz"
    ]


def test_a_silent_region_counted_healthy_is_caught(dr: StackRun) -> None:
    bad = _broken(dr, _check("primary"), _set(insufficientDataHealthStatus="LastKnownStatus"))
    (problem,) = regions.steering_checks_readiness(bad)
    assert "insufficient data counts as LastKnownStatus" in problem


def test_a_dr_region_that_cannot_scale_to_prod_is_caught(dr: StackRun) -> None:
    def cap(resource: Resource) -> None:
        resource.props["spec"]["maxReplicas"] = 2

    bad = _broken(
        dr,
        lambda r: (
            r.props.get("kind") == "HorizontalPodAutoscaler"
            and "active" in r.props["metadata"]["name"]
        ),
        cap,
    )
    assert regions.dr_scales_to_primary(bad) == [
        "the DR region's active HPAs reach 4 replicas; taking over the primary needs 6"
    ]
    small = _broken(
        dr,
        lambda r: r.resource_type == "aws:eks/nodeGroup:NodeGroup" and "gpu" in r.name,
        lambda r: r.props["scalingConfig"].update(maxSize=2),
    )
    assert regions.dr_scales_to_primary(small) == [
        "the DR region's GPU node groups hold 4 replicas at max size; taking over the "
        "primary needs 6"
    ]
