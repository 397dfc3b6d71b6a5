"""The seam between a primary region's stack (``prod``) and its warm-standby region's
stack (``prod-dr``).

Why two stacks and not one stack with a second provider: a region outage must not block
``pulumi up`` of the survivor. One stack holding both regions would refresh and diff the
dead region's cluster, whose Kubernetes provider can no longer connect, on every update;
the survivor could not be scaled or changed through Pulumi while it carries all the
traffic. Two stacks also halve the blast radius of a bad update. The replication rule
stays in the primary stack (it needs versioning on both buckets first, which only one
program can order), so the DR bucket is created there and the DR stack reads its name
and key through a StackReference; the failover steering lives in the DR stack, the one
that survives a primary loss. See docs/dr.md.

The primary exports ``dr_handoff`` (region, its readiness alarm's name, the DR bucket's
KMS key); the DR stack reads it with ``endpoint``, ``zones`` and ``model_store``.
"""

from __future__ import annotations

from typing import Any

import pulumi

from contracts.regions import Region, check_regions
from infra.aws.buckets import REPLICATION_RULE_ID, ModelBuckets, bucket_arn
from infra.aws.canary import readiness_alarm_name
from infra.aws.iam import StoreReadGrant
from infra.aws.replication_alarms import ReplicationAlarms, ReplicationAlarmsArgs
from infra.aws.steering import FailoverSteering, SteeringArgs, SteeringTarget
from infra.config import EnvSpec

HANDOFF = "dr_handoff"
# S3 RTC's window: a promoted version may take this long to reach the DR bucket.
REPLICATION_WINDOW_S = 900.0


def is_region_pair(spec: EnvSpec) -> bool:
    """A primary that replicates to a DR region, or the DR region's own stack."""
    return spec.region_role == "dr" or (spec.target == "eks" and spec.dr_replication)


def own_readiness_alarm(spec: EnvSpec) -> str | None:
    return (
        readiness_alarm_name(spec.environment, spec.region or "") if is_region_pair(spec) else None
    )


def primary_extras(
    spec: EnvSpec, name: str, buckets: ModelBuckets, tags: dict[str, str]
) -> dict[str, Any]:
    """RPO alarms on the replication rule, and the handoff the DR stack reads."""
    if buckets.dr is None:
        return {}
    ReplicationAlarms(
        f"{name}-replication",
        ReplicationAlarmsArgs(
            source_bucket=buckets.primary.bucket_name,
            destination_bucket=buckets.dr.bucket_name,
            rule_id=REPLICATION_RULE_ID,
            tags=tags,
        ),
    )
    return {
        HANDOFF: {
            "region": spec.region,
            "readiness_alarm": own_readiness_alarm(spec),
            "dr_bucket": buckets.dr.bucket_name,
            "dr_key_arn": buckets.dr.key.arn,
        }
    }


def dr_grants(spec: EnvSpec, primary: pulumi.StackReference) -> list[StoreReadGrant]:
    """The DR replicas read the replication target only, never the primary's bucket
    (lost with the primary region)."""
    handoff = primary.require_output(HANDOFF)
    return [
        StoreReadGrant(
            bucket_arn(spec.model_bucket or ""),
            spec.model_prefix,
            handoff.apply(lambda h: h["dr_key_arn"]),
        )
    ]


def deploy_steering(
    spec: EnvSpec, name: str, primary: pulumi.StackReference, dr_endpoint: pulumi.Output[str]
) -> FailoverSteering:
    handoff = primary.require_output(HANDOFF)
    tags = {"recdrill:environment": spec.environment, "managed-by": "pulumi"}
    return FailoverSteering(
        f"{name}-steering",
        SteeringArgs(
            zone_id=spec.steering_zone_id or "",
            record=spec.steering_record or "",
            targets=[
                SteeringTarget(
                    role="primary",
                    region=handoff.apply(lambda h: h["region"]),
                    host=primary.require_output("endpoint"),
                    alarm_name=handoff.apply(lambda h: h["readiness_alarm"]),
                ),
                SteeringTarget(
                    role="dr",
                    region=spec.region or "",
                    host=dr_endpoint,
                    alarm_name=own_readiness_alarm(spec) or "",
                ),
            ],
            tags=tags,
        ),
    )


def regions_output(
    spec: EnvSpec, primary: pulumi.StackReference, dr_endpoint: pulumi.Output[str]
) -> pulumi.Output[list[dict[str, Any]]]:
    """The description's ``regions`` (contracts/regions.py), checked by the contract once
    the primary's outputs are known."""

    def build(values: list[Any]) -> list[dict[str, Any]]:
        endpoint, zones, store, handoff, own_endpoint = values
        regions = check_regions(
            [
                Region(
                    name=handoff["region"],
                    role="primary",
                    endpoint=endpoint,
                    zones=tuple(zones),
                    store_url=store["url"],
                    replication_window_s=REPLICATION_WINDOW_S,
                ),
                Region(
                    name=spec.region or "",
                    role="dr",
                    endpoint=own_endpoint,
                    zones=spec.zones,
                    store_url=spec.store_url,
                    replication_window_s=REPLICATION_WINDOW_S,
                ),
            ]
        )
        return [r.to_json() for r in regions]

    return pulumi.Output.all(
        primary.require_output("endpoint"),
        primary.require_output("zones"),
        primary.require_output("model_store"),
        primary.require_output(HANDOFF),
        dr_endpoint,
    ).apply(build)
