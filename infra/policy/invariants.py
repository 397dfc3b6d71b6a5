"""Resilience invariants over a plain resource view.

Each function takes resources shaped like pulumi-policy's ``PolicyResource``
(``resource_type``, ``props``; props in the engine's camelCase) and returns a list of
violations, one clear sentence each; an empty list means the invariant holds. The same
functions run in the policy pack (``pulumi preview --policy-pack infra/policy``) and in
the unit tests over the mocked stacks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from infra.config import (
    GPUS_PER_INSTANCE,
    NODE_GROUP_ZONE_LABEL,
    RESERVED_LABEL_PREFIXES,
    ZONE_LABEL,
)

GPU = "nvidia.com/gpu"
GPU_AMI_TYPES = {"AL2023_x86_64_NVIDIA", "AL2_x86_64_GPU", "BOTTLEROCKET_x86_64_NVIDIA"}
RTC_MINUTES = 15
REPLICA_READ_ACTIONS = {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


class ResourceLike(Protocol):
    resource_type: str
    props: Mapping[str, Any]


Resources = Sequence[ResourceLike]


def _of_type(resources: Resources, resource_type: str) -> list[Mapping[str, Any]]:
    return [r.props for r in resources if r.resource_type == resource_type]


def _k8s(resources: Resources, kind: str) -> list[Mapping[str, Any]]:
    return [
        r.props
        for r in resources
        if r.resource_type.startswith("kubernetes:") and r.props.get("kind") == kind
    ]


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}".replace(" /", " ")


def _pod_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return workload["spec"]["template"]["spec"]


def _pod_labels(workload: Mapping[str, Any]) -> Mapping[str, str]:
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def _role(workload: Mapping[str, Any]) -> str | None:
    return _pod_labels(workload).get("recdrill.io/role")


def _active_deployment(resources: Resources) -> Mapping[str, Any] | None:
    for deployment in _k8s(resources, "Deployment"):
        annotations = deployment["metadata"].get("annotations") or {}
        if "recdrill.io/zones" in annotations:
            return deployment
    return None


def _replica_gpus(workload: Mapping[str, Any]) -> int:
    limits = _pod_spec(workload)["containers"][0].get("resources", {}).get("limits", {})
    return int(float(limits.get(GPU, 0)))


# ---- capacity -------------------------------------------------------------------------
def zones_have_gpu_capacity(resources: Resources) -> list[str]:
    """Every AZ with private subnets has its own tainted GPU node group with min ≥ 1."""
    zones = sorted(
        {
            s["availabilityZone"]
            for s in _of_type(resources, "aws:ec2/subnet:Subnet")
            if (s.get("tags") or {}).get("kubernetes.io/role/internal-elb")
        }
    )
    groups = _of_type(resources, "aws:eks/nodeGroup:NodeGroup")
    problems = [
        f"node group label {label} uses a prefix EKS rejects ({', '.join(RESERVED_LABEL_PREFIXES)})"
        for group in groups
        for label in group.get("labels") or {}
        if any(label.startswith(p) or f".{p}" in label for p in RESERVED_LABEL_PREFIXES)
    ]
    for zone in zones:
        gpu_groups = [
            g
            for g in groups
            if (g.get("labels") or {}).get(NODE_GROUP_ZONE_LABEL) == zone
            and g.get("amiType") in GPU_AMI_TYPES
        ]
        if not gpu_groups:
            problems.append(
                f"zone {zone} has no GPU node group labelled {NODE_GROUP_ZONE_LABEL}={zone}"
            )
            continue
        for group in gpu_groups:
            scaling = group.get("scalingConfig") or {}
            if scaling.get("minSize", 0) < 1:
                problems.append(f"GPU node group of zone {zone} may scale to 0 (minSize < 1)")
            if scaling.get("maxSize", 0) < scaling.get("minSize", 0):
                problems.append(f"GPU node group of zone {zone} has maxSize < minSize")
            if len(group.get("subnetIds") or []) != 1:
                problems.append(f"GPU node group of zone {zone} must use that zone's subnet only")
            taints = group.get("taints") or []
            if not any(t.get("key") == GPU and t.get("effect") == "NO_SCHEDULE" for t in taints):
                problems.append(f"GPU node group of zone {zone} lacks the {GPU} NoSchedule taint")
    return problems


def zone_loss_keeps_peak(resources: Resources) -> list[str]:
    """Losing any one zone leaves active + standby replicas (and GPU room) for the peak."""
    if not _k8s(resources, "Deployment"):
        return []  # infrastructure-only stack (deploy_workloads: false)
    active = _active_deployment(resources)
    if active is None:
        return ["no active replica Deployment annotated with recdrill.io/zones"]
    annotations = active["metadata"]["annotations"]
    zones = [z for z in annotations["recdrill.io/zones"].split(",") if z]
    peak = int(annotations["recdrill.io/peak-replicas"])
    labels = _pod_labels(active)
    standby = sum(
        int(d["spec"].get("replicas", 1))
        for d in _k8s(resources, "Deployment")
        if _role(d) == "standby"
        and _pod_labels(d).get("app.kubernetes.io/name") == labels.get("app.kubernetes.io/name")
    )
    replicas = int(active["spec"].get("replicas", 1))
    survivors = (
        replicas - math.ceil(replicas / len(zones)) + standby - math.ceil(standby / len(zones))
    )
    problems = []
    if survivors < peak:
        problems.append(
            f"after losing one of {len(zones)} zones only {survivors} replicas remain "
            f"({replicas} active + {standby} standby, evenly spread) but the peak needs {peak}"
        )
    gpus = _replica_gpus(active)
    groups = _of_type(resources, "aws:eks/nodeGroup:NodeGroup")
    if gpus and groups:
        slots = {}
        for group in groups:
            zone = (group.get("labels") or {}).get(NODE_GROUP_ZONE_LABEL)
            per_node = GPUS_PER_INSTANCE.get((group.get("instanceTypes") or [""])[0], 0)
            if zone in zones:
                slots[zone] = slots.get(zone, 0) + group["scalingConfig"]["maxSize"] * (
                    per_node // gpus
                )
        for lost in zones:
            room = sum(slots.get(z, 0) for z in zones if z != lost)
            if room < peak:
                problems.append(
                    f"without zone {lost} the GPU node groups can hold only {room} replicas "
                    f"at max size; the peak needs {peak}"
                )
    return problems


def replicas_spread_over_zones(resources: Resources) -> list[str]:
    """At least one active replica per zone, spread by zone without the cordon trap."""
    if not _k8s(resources, "Deployment"):
        return []  # infrastructure-only stack (deploy_workloads: false)
    active = _active_deployment(resources)
    if active is None:
        return ["no active replica Deployment annotated with recdrill.io/zones"]
    zones = [z for z in active["metadata"]["annotations"]["recdrill.io/zones"].split(",") if z]
    problems = []
    replicas = int(active["spec"].get("replicas", 1))
    if replicas < len(zones):
        problems.append(f"{_name(active)} has {replicas} replicas for {len(zones)} zones")
    spreads = [
        c
        for c in _pod_spec(active).get("topologySpreadConstraints") or []
        if c.get("topologyKey") == ZONE_LABEL
    ]
    if not spreads:
        problems.append(f"{_name(active)} has no topology spread over {ZONE_LABEL}")
    for spread in spreads:
        if (
            spread.get("whenUnsatisfiable") == "DoNotSchedule"
            and spread.get("nodeTaintsPolicy") != "Honor"
        ):
            problems.append(
                f"{_name(active)} spreads with DoNotSchedule: a cordoned zone still counts "
                "as a domain with 0 pods and replacements stay Pending (kubernetes#106127); "
                "use ScheduleAnyway or nodeTaintsPolicy: Honor"
            )
    return problems


# ---- workloads ------------------------------------------------------------------------
def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def workloads_hardened(resources: Resources) -> list[str]:
    """Every workload: a security context; serving Deployments also a PDB and probes.

    Headroom placeholders (role ``placeholder``) are exempt from PDB and probes: they run
    ``pause`` and exist to be preempted.
    """
    pdbs = _k8s(resources, "PodDisruptionBudget")
    problems = []
    for kind in sorted(WORKLOAD_KINDS):
        for workload in _k8s(resources, kind):
            name = _name(workload)
            pod = _pod_spec(workload)
            pod_security = pod.get("securityContext") or {}
            if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
            if kind != "DaemonSet" and pod_security.get("runAsNonRoot") is not True:
                problems.append(f"{name}: pod does not set runAsNonRoot: true")
            for container in pod.get("containers") or []:
                sc = container.get("securityContext") or {}
                where = f"{name} container {container.get('name')}"
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{where}: allowPrivilegeEscalation is not false")
                if sc.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{where}: root filesystem is not read-only")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problems.append(f"{where}: capabilities are not dropped (drop: [ALL])")
                if kind != "DaemonSet" and _role(workload) != "placeholder":
                    for probe in ("readinessProbe", "livenessProbe"):
                        if not container.get(probe):
                            problems.append(f"{where}: no {probe}")
            if kind == "DaemonSet" or _role(workload) == "placeholder":
                continue
            labels = _pod_labels(workload)
            if not any(_selects(p["spec"].get("selector") or {}, labels) for p in pdbs):
                problems.append(f"{name}: no PodDisruptionBudget selects its pods")
    return problems


# ---- buckets --------------------------------------------------------------------------
def _for_bucket(items: Iterable[Mapping[str, Any]], bucket: str) -> list[Mapping[str, Any]]:
    return [i for i in items if i.get("bucket") == bucket]


def _policy(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else dict(document or {})


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = _policy(document).get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def buckets_hardened(resources: Resources) -> list[str]:
    """Versioning, SSE-KMS + bucket key (rotating key), 4 public blocks, TLS only, expiry."""
    keys = {k.get("arn"): k for k in _of_type(resources, "aws:kms/key:Key")}
    problems = []
    for bucket in _of_type(resources, "aws:s3/bucket:Bucket"):
        name = bucket.get("bucket")
        versioning = _for_bucket(
            _of_type(resources, "aws:s3/bucketVersioning:BucketVersioning"), name
        )
        if not any(
            (v.get("versioningConfiguration") or {}).get("status") == "Enabled" for v in versioning
        ):
            problems.append(f"bucket {name}: versioning is not Enabled")
        sse_rules = [
            rule
            for sse in _for_bucket(
                _of_type(
                    resources,
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                ),
                name,
            )
            for rule in sse.get("rules") or []
        ]
        kms_rules = [
            r
            for r in sse_rules
            if (r.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") == "aws:kms"
        ]
        if not kms_rules:
            problems.append(f"bucket {name}: default encryption is not SSE-KMS")
        for rule in kms_rules:
            if rule.get("bucketKeyEnabled") is not True:
                problems.append(f"bucket {name}: SSE-KMS without a bucket key")
            key_arn = rule["applyServerSideEncryptionByDefault"].get("kmsMasterKeyId")
            key = keys.get(key_arn)
            if key is None:
                problems.append(f"bucket {name}: SSE-KMS key is not a key of this stack")
            elif key.get("enableKeyRotation") is not True:
                problems.append(f"bucket {name}: its KMS key has rotation disabled")
        blocks = _for_bucket(
            _of_type(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"), name
        )
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        if not any(all(b.get(f) is True for f in flags) for b in blocks):
            problems.append(f"bucket {name}: not all four public access blocks are on")
        policies = _for_bucket(_of_type(resources, "aws:s3/bucketPolicy:BucketPolicy"), name)
        if not any(_denies_plain_http(p.get("policy")) for p in policies):
            problems.append(f"bucket {name}: no policy denies aws:SecureTransport=false")
        lifecycles = _for_bucket(
            _of_type(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"),
            name,
        )
        if not any(
            rule.get("status") == "Enabled"
            and (rule.get("noncurrentVersionExpiration") or {}).get("noncurrentDays", 0) > 0
            for lifecycle in lifecycles
            for rule in lifecycle.get("rules") or []
        ):
            problems.append(f"bucket {name}: no lifecycle rule expires noncurrent versions")
    return problems


def _denies_plain_http(document: Any) -> bool:
    for statement in _statements(document):
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        if (
            statement.get("Effect") == "Deny"
            and str(condition.get("aws:SecureTransport")).lower() == "false"
        ):
            return True
    return False


def replication_has_rtc(resources: Resources) -> list[str]:
    """Prod buckets replicate with RTC 15 min + metrics + delete markers to a known bucket."""
    buckets = _of_type(resources, "aws:s3/bucket:Bucket")
    known = {f"arn:aws:s3:::{b.get('bucket')}" for b in buckets}
    configs = _of_type(resources, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    problems = []
    replicated = {c.get("bucket") for c in configs}
    destinations = set()
    for config in configs:
        source = config.get("bucket")
        rules = config.get("rules") or []
        if not any(r.get("status") == "Enabled" for r in rules):
            problems.append(f"replication of {source}: no Enabled rule")
        for rule in rules:
            dest = rule.get("destination") or {}
            destinations.add(dest.get("bucket"))
            rtc = dest.get("replicationTime") or {}
            metrics = dest.get("metrics") or {}
            if rtc.get("status") != "Enabled" or (rtc.get("time") or {}).get("minutes") != 15:
                problems.append(f"replication of {source}: Replication Time Control is not 15 min")
            threshold = (metrics.get("eventThreshold") or {}).get("minutes")
            if metrics.get("status") != "Enabled" or threshold != RTC_MINUTES:
                problems.append(f"replication of {source}: RTC needs the metrics block (15 min)")
            if (rule.get("deleteMarkerReplication") or {}).get("status") != "Enabled":
                problems.append(f"replication of {source}: delete markers are not replicated")
            if dest.get("bucket") not in known:
                problems.append(
                    f"replication of {source}: destination {dest.get('bucket')} is not a "
                    "hardened bucket of this stack"
                )
    for bucket in buckets:
        name = bucket.get("bucket")
        prod = (bucket.get("tags") or {}).get("recdrill:environment") == "prod"
        if prod and name not in replicated and f"arn:aws:s3:::{name}" not in destinations:
            problems.append(f"prod bucket {name} is not replicated to a DR region")
    return problems


# ---- IAM ------------------------------------------------------------------------------
def irsa_least_privilege(resources: Resources) -> list[str]:
    """Replica IRSA roles: one ServiceAccount, STS audience, read-only model prefix."""
    roles = {r.get("arn"): r for r in _of_type(resources, "aws:iam/role:Role")}
    inline = _of_type(resources, "aws:iam/rolePolicy:RolePolicy")
    attached = _of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    problems = []
    for account in _k8s(resources, "ServiceAccount"):
        meta = account["metadata"]
        role_arn = (meta.get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        if role_arn is None:
            continue
        who = f"ServiceAccount {meta.get('namespace')}/{meta['name']}"
        if "router" in meta["name"]:
            problems.append(f"{who}: the router must not get an AWS role")
        role = roles.get(role_arn)
        if role is None:
            problems.append(f"{who}: annotated role {role_arn} is not a role of this stack")
            continue
        expected = f"system:serviceaccount:{meta.get('namespace')}:{meta['name']}"
        problems += _check_trust(who, role.get("assumeRolePolicy"), expected)
        if any(a.get("role") == role.get("name") for a in attached):
            problems.append(f"{who}: managed policies are attached to its role")
        documents = [p.get("policy") for p in inline if p.get("role") == role.get("name")]
        if not documents:
            problems.append(f"{who}: its role has no inline read policy")
        for document in documents:
            problems += _check_read_only(who, document)
    return problems


def _check_trust(who: str, document: Any, subject: str) -> list[str]:
    problems = []
    for statement in _statements(document):
        if statement.get("Action") != "sts:AssumeRoleWithWebIdentity" or not (
            statement.get("Principal") or {}
        ).get("Federated"):
            problems.append(f"{who}: trust is not web identity from the cluster OIDC provider")
            continue
        equals = (statement.get("Condition") or {}).get("StringEquals") or {}
        subs = [v for k, v in equals.items() if k.endswith(":sub")]
        auds = [v for k, v in equals.items() if k.endswith(":aud")]
        if subs != [subject]:
            problems.append(f"{who}: trust sub is {subs}, expected exactly {subject!r}")
        if auds != ["sts.amazonaws.com"]:
            problems.append(f"{who}: trust aud is {auds}, expected sts.amazonaws.com")
    return problems


def _check_read_only(who: str, document: Any) -> list[str]:
    problems = []
    for statement in _statements(document):
        actions = set(_as_list(statement.get("Action")))
        resources = _as_list(statement.get("Resource"))
        if statement.get("Effect") != "Allow":
            continue
        extra = actions - REPLICA_READ_ACTIONS
        if extra:
            problems.append(f"{who}: grants more than model reads: {sorted(extra)}")
        if "*" in resources or any(r.endswith(":::*") for r in resources):
            problems.append(f"{who}: grants on every resource (*)")
        if actions & {"s3:GetObject", "s3:GetObjectVersion"}:
            for resource in resources:
                bucket_part, _, key_part = resource.partition("/")
                if not key_part or key_part == "*":
                    problems.append(f"{who}: object reads on the whole bucket {bucket_part}")
        if "s3:ListBucket" in actions:
            like = (statement.get("Condition") or {}).get("StringLike") or {}
            if "s3:prefix" not in like:
                problems.append(f"{who}: s3:ListBucket without an s3:prefix condition")
    return problems


INVARIANTS = {
    "zones-have-gpu-capacity": zones_have_gpu_capacity,
    "zone-loss-keeps-peak": zone_loss_keeps_peak,
    "replicas-spread-over-zones": replicas_spread_over_zones,
    "workloads-hardened": workloads_hardened,
    "buckets-hardened": buckets_hardened,
    "replication-has-rtc": replication_has_rtc,
    "irsa-least-privilege": irsa_least_privilege,
}
