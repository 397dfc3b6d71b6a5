"""Region-pair invariants (docs/dr.md): the DR region is another region, its replicas
read only the primary's replication target, and the failover steering judges each
region by its router's readiness path.

The DR stack sees the primary through its StackReference (a read resource the policy
engine lists with the rest): the primary's ``model_store.dr_url`` names the replication
target, and ``dr_handoff`` the primary's region. Where no reference is visible, the
store rule falls back to what the stack itself shows: replicas and IRSA agree on one
bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.config import GPUS_PER_INSTANCE
from infra.policy.view import (
    ResourceLike,
    Resources,
    as_list,
    built_from,
    k8s_objects,
    of_type,
    replica_gpus,
    resources_of,
    role_of,
    statements,
)

READY_PATH = "/readyz"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
CANARY = "aws:synthetics/canary:Canary"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
STEERING = {"recdrill:purpose": "steering"}
ACTIVE_PREFIX = "recdrill-replica-active"


def _failover(record: ResourceLike) -> str | None:
    policies = record.props.get("failoverRoutingPolicies") or []
    return policies[0].get("type") if policies else None


def _health_check(record: ResourceLike) -> Mapping[str, Any] | None:
    found = [
        r.props for r in built_from(record, "healthCheckId") if r.resource_type == HEALTH_CHECK
    ]
    return found[0] if found else None


def _handoff(resources: Resources) -> Mapping[str, Any] | None:
    """The primary's outputs as the DR stack reads them, when it reads any."""
    for reference in of_type(resources, STACK_REFERENCE):
        outputs = reference.get("outputs") or {}
        if "dr_handoff" in outputs:
            return outputs
    return None


def dr_region_differs(resources: Resources) -> list[str]:
    """Failover records come as one PRIMARY and one SECONDARY per name, each with a
    health check, judged from two different regions (the primary's, read through the
    StackReference, is not this stack's own)."""
    problems = []
    by_name: dict[str, dict[str, list[Mapping[str, Any] | None]]] = {}
    for record in resources_of(resources, RECORD):
        role = _failover(record)
        if role is None:
            continue
        name = record.props.get("name")
        check = _health_check(record)
        if check is None:
            problems.append(f"failover record {name} ({role}) has no health check")
        by_name.setdefault(name, {}).setdefault(role, []).append(check)
    for name, roles in by_name.items():
        if sorted(roles) != ["PRIMARY", "SECONDARY"] or any(len(c) != 1 for c in roles.values()):
            problems.append(
                f"failover record {name}: needs exactly one PRIMARY and one SECONDARY, got "
                f"{ {role: len(checks) for role, checks in roles.items()} }"
            )
            continue
        (primary,), (secondary,) = roles["PRIMARY"], roles["SECONDARY"]
        regions = [(c or {}).get("cloudwatchAlarmRegion") for c in (primary, secondary)]
        if regions[0] is not None and regions[0] == regions[1]:
            problems.append(
                f"failover record {name}: PRIMARY and SECONDARY are both judged in "
                f"{regions[0]}: the DR region must differ from the primary"
            )
    handoff = _handoff(resources)
    if handoff is not None:
        own = {c.get("cloudwatchAlarmRegion") for c in _secondary_checks(resources)}
        if handoff["dr_handoff"].get("region") in own:
            problems.append(
                f"the DR region is the primary's region {handoff['dr_handoff'].get('region')}"
            )
    return problems


def _secondary_checks(resources: Resources) -> list[Mapping[str, Any]]:
    return [
        check
        for record in resources_of(resources, RECORD)
        if _failover(record) == "SECONDARY" and (check := _health_check(record)) is not None
    ]


def steering_checks_readiness(resources: Resources) -> list[str]:
    """Each failover health check asks the router's /readyz: HTTP(S) checks by their
    path, CloudWatch checks through their alarm's canary; a region whose CloudWatch goes
    silent counts as unhealthy."""
    alarms = {a.get("name"): a for a in of_type(resources, ALARM)}
    problems = []
    for record in resources_of(resources, RECORD):
        check = _health_check(record) if _failover(record) else None
        if check is None:
            continue
        name = f"health check of {record.props.get('name')} ({_failover(record)})"
        kind = check.get("type")
        if kind in ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH"):
            if check.get("resourcePath") != READY_PATH:
                problems.append(f"{name}: probes {check.get('resourcePath')!r}, not {READY_PATH}")
            continue
        if kind != "CLOUDWATCH_METRIC":
            problems.append(f"{name}: type {kind} cannot see the router's readiness")
            continue
        if check.get("insufficientDataHealthStatus") != "Unhealthy":
            problems.append(
                f"{name}: insufficient data counts as "
                f"{check.get('insufficientDataHealthStatus') or 'LastKnownStatus'}; a lost "
                "region publishes nothing, so it must count as Unhealthy"
            )
        alarm = alarms.get(check.get("cloudwatchAlarmName"))
        if alarm is not None and not STEERING.items() <= (alarm.get("tags") or {}).items():
            problems.append(f"{name}: alarm {alarm.get('name')} is not a readiness alarm")
    problems += _readiness_alarms_probe_readyz(resources)
    return problems


def _readiness_alarms_probe_readyz(resources: Resources) -> list[str]:
    canaries = {c.get("name"): c for c in of_type(resources, CANARY)}
    problems = []
    for alarm in of_type(resources, ALARM):
        if not STEERING.items() <= (alarm.get("tags") or {}).items():
            continue
        canary = canaries.get((alarm.get("dimensions") or {}).get("CanaryName"))
        if canary is None:
            problems.append(f"readiness alarm {alarm.get('name')}: watches no canary of this stack")
            continue
        env = (canary.get("runConfig") or {}).get("environmentVariables") or {}
        if env.get("READY_PATH") != READY_PATH:
            problems.append(
                f"readiness alarm {alarm.get('name')}: its canary probes "
                f"{env.get('READY_PATH')!r}, not the router's {READY_PATH}"
            )
        if alarm.get("treatMissingData") != "breaching":
            problems.append(f"readiness alarm {alarm.get('name')}: missing data must be breaching")
    return problems


def _store_arg(workload: Mapping[str, Any]) -> str | None:
    command = workload["spec"]["template"]["spec"]["containers"][0].get("command") or []
    for index, arg in enumerate(command):
        if arg == "--store" and index + 1 < len(command):
            return command[index + 1]
        if arg.startswith("--store="):
            return arg.split("=", 1)[1]
    return None


def _bucket(url: str | None) -> str | None:
    if not url or not url.startswith("s3://"):
        return None
    return url.removeprefix("s3://").split("/", 1)[0]


def _read_buckets(resources: Resources) -> set[str]:
    """Buckets whose objects the roles of annotated ServiceAccounts (IRSA) may read."""
    roles = {r.get("arn"): r.get("name") for r in of_type(resources, "aws:iam/role:Role")}
    names = {
        roles.get((account["metadata"].get("annotations") or {}).get("eks.amazonaws.com/role-arn"))
        for account in k8s_objects(resources, "ServiceAccount")
    } - {None}
    found = set()
    for policy in of_type(resources, "aws:iam/rolePolicy:RolePolicy"):
        if policy.get("role") not in names:
            continue
        for statement in statements(policy.get("policy")):
            if "s3:GetObject" in as_list(statement.get("Action")):
                for resource in as_list(statement.get("Resource")):
                    found.add(str(resource).removeprefix("arn:aws:s3:::").split("/", 1)[0])
    return found


def dr_reads_replication_target(resources: Resources) -> list[str]:
    """In a DR region stack, every replica loads from the primary's replication target
    (its ``model_store.dr_url``), never the primary's own store, and IRSA lets it read
    that bucket only."""
    handoff = _handoff(resources)
    if handoff is None:
        return []
    store = handoff.get("model_store") or {}
    target, primary = store.get("dr_url"), store.get("url")
    problems = []
    if not target:
        return ["the primary replicates to no DR bucket (model_store.dr_url is empty)"]
    for workload in k8s_objects(resources, "Deployment"):
        if role_of(workload) not in ("active", "standby"):
            continue
        url = _store_arg(workload)
        name = workload["metadata"]["name"]
        if url == primary:
            problems.append(
                f"Deployment {name} reads the primary's store {url}, lost with the primary "
                f"region; the DR region reads the replication target {target}"
            )
        elif url != target:
            problems.append(f"Deployment {name} reads {url}, not the replication target {target}")
    readable = _read_buckets(resources)
    extra = readable - {_bucket(target)}
    if extra:
        problems.append(
            f"the DR replicas' IRSA reads {sorted(extra)} besides the replication target "
            f"{_bucket(target)}"
        )
    return problems


def dr_scales_to_primary(resources: Resources) -> list[str]:
    """Warm standby runs small and scales out on failover: the DR region's active HPAs and
    GPU node groups at their maximum hold at least the primary's steady active replicas
    (read through the StackReference)."""
    handoff = _handoff(resources)
    if handoff is None:
        return []
    needed = int(handoff.get("replicas_per_zone") or 0) * len(handoff.get("zones") or [])
    ceiling = sum(
        int(hpa["spec"]["maxReplicas"])
        for hpa in k8s_objects(resources, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]["name"].startswith(ACTIVE_PREFIX)
    )
    problems = []
    if ceiling < needed:
        problems.append(
            f"the DR region's active HPAs reach {ceiling} replicas; taking over the primary "
            f"needs {needed}"
        )
    active = [d for d in k8s_objects(resources, "Deployment") if role_of(d) == "active"]
    gpus = replica_gpus(active[0]) if active else 0
    slots = sum(
        group["scalingConfig"]["maxSize"]
        * (GPUS_PER_INSTANCE.get((group.get("instanceTypes") or [""])[0], 0) // gpus)
        for group in of_type(resources, "aws:eks/nodeGroup:NodeGroup")
        if gpus and (group.get("labels") or {}).get("recdrill.io/pool") == "gpu"
    )
    if gpus and slots < needed:
        problems.append(
            f"the DR region's GPU node groups hold {slots} replicas at max size; taking over "
            f"the primary needs {needed}"
        )
    return problems
