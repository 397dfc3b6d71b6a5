"""Model bucket invariants: hardened buckets, and RTC replication to the DR region in prod."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.policy.view import Resources, of_type, statements

RTC_MINUTES = 15
# Buckets whose contents are regenerated every minute (the router canary's run
# artifacts) have nothing a DR region needs; everything else in prod replicates.
REGENERATED = {"recdrill:contents": "canary-artifacts"}


def _for_bucket(items: Iterable[Mapping[str, Any]], bucket: str) -> list[Mapping[str, Any]]:
    return [i for i in items if i.get("bucket") == bucket]


def buckets_hardened(resources: Resources) -> list[str]:
    """Versioning, SSE-KMS + bucket key (rotating key), 4 public blocks, TLS only, expiry."""
    keys = {k.get("arn"): k for k in of_type(resources, "aws:kms/key:Key")}
    problems = []
    for bucket in of_type(resources, "aws:s3/bucket:Bucket"):
        name = bucket.get("bucket")
        versioning = _for_bucket(
            of_type(resources, "aws:s3/bucketVersioning:BucketVersioning"), name
        )
        if not any(
            (v.get("versioningConfiguration") or {}).get("status") == "Enabled" for v in versioning
        ):
            problems.append(f"bucket {name}: versioning is not Enabled")
        sse_rules = [
            rule
            for sse in _for_bucket(
                of_type(
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
            of_type(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"), name
        )
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        if not any(all(b.get(f) is True for f in flags) for b in blocks):
            problems.append(f"bucket {name}: not all four public access blocks are on")
        policies = _for_bucket(of_type(resources, "aws:s3/bucketPolicy:BucketPolicy"), name)
        if not any(_denies_plain_http(p.get("policy")) for p in policies):
            problems.append(f"bucket {name}: no policy denies aws:SecureTransport=false")
        lifecycles = _for_bucket(
            of_type(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"),
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
    for statement in statements(document):
        condition = (statement.get("Condition") or {}).get("Bool") or {}
        if (
            statement.get("Effect") == "Deny"
            and str(condition.get("aws:SecureTransport")).lower() == "false"
        ):
            return True
    return False


def replication_has_rtc(resources: Resources) -> list[str]:
    """Prod buckets replicate with RTC 15 min + metrics + delete markers to a known bucket."""
    buckets = of_type(resources, "aws:s3/bucket:Bucket")
    known = {f"arn:aws:s3:::{b.get('bucket')}" for b in buckets}
    configs = of_type(resources, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
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
        tags = bucket.get("tags") or {}
        prod = (
            tags.get("recdrill:environment") == "prod" and not REGENERATED.items() <= tags.items()
        )
        if prod and name not in replicated and f"arn:aws:s3:::{name}" not in destinations:
            problems.append(f"prod bucket {name} is not replicated to a DR region")
    return problems
