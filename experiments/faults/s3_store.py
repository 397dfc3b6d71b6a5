"""Faults of an ``s3://`` model store: a weights object rots; bucket versioning repairs it.

The endpoint for moto or MinIO comes from ``RECDRILL_S3_ENDPOINT_URL`` like the store's.
Restoring copies the recorded good object version back on top, so the bucket's history
keeps both the corruption and the repair. An S3 store cannot be made unreachable from
here: on Kubernetes the ``kubernetes`` driver cuts the replicas' egress instead.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.faults.common import state_file, unsupported
from experiments.faults.corruption import corrupt_bytes, target
from experiments.faults.refusal import CORRUPTED
from experiments.faults.store_has_no_replicas import (
    check_refusal,
    freeze_replicas,
    kill_replicas,
    ready_capacity,
    region_down,
    region_up,
    restart_replicas,
    restore_replication,
    slow_replication,
    thaw_replicas,
    wait_for_capacity,
    wait_for_replacement,
    wait_for_zone_return,
    zone_down,
    zone_hang,
    zone_up,
)
from model.store import S3_ENDPOINT_ENV

__all__ = [
    "check_refusal",
    "corrupt_model",
    "freeze_replicas",
    "kill_replicas",
    "ready_capacity",
    "region_down",
    "region_up",
    "restart_replicas",
    "restore_model",
    "restore_replication",
    "restore_store",
    "slow_replication",
    "store_outage",
    "thaw_replicas",
    "wait_for_capacity",
    "wait_for_replacement",
    "wait_for_zone_return",
    "zone_down",
    "zone_hang",
    "zone_up",
]

CORRUPT_S3 = "store.corrupt_s3"
_NO_OUTAGE = "an S3 bucket cannot be cut off from here; on Kubernetes the kubernetes driver does it"


def _client():
    endpoint = os.environ.get(S3_ENDPOINT_ENV) or os.environ.get("AWS_ENDPOINT_URL_S3")
    return boto3.client("s3", endpoint_url=endpoint) if endpoint else boto3.client("s3")


def _split(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → (``bucket``, ``a/b``)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ActivityFailed(f"{url!r} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


def _read_good(bucket: str, key: str) -> tuple[str | None, bytes]:
    """The current (good) object version and its bytes; refuses an unversioned bucket."""
    s3 = _client()
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        if versioning != "Enabled":
            raise ActivityFailed(
                f"bucket {bucket} has no versioning enabled: corrupting {key} could not be undone"
            )
        got = s3.get_object(Bucket=bucket, Key=key)
        return got.get("VersionId"), got["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ActivityFailed(f"cannot read s3://{bucket}/{key}: {exc}") from exc


def corrupt_model(
    version: str = "stable",
    file: str = "model.safetensors",
    mode: str = "silent",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Corrupt one file of a model version in the bucket (by default the stable weights).

    Needs bucket versioning: the good object version is recorded first and
    ``restore_model`` copies it back. ``mode`` as in the file store driver.
    """
    store_url, store, model, resolved = target(configuration, version, file)
    bucket, key = _split(f"s3://{store.root}/{model}/versions/{resolved}/{file}")
    good_version, good = _read_good(bucket, key)
    bad = corrupt_bytes(good, mode)
    state.record(
        state_file(configuration),
        CORRUPT_S3,
        bucket=bucket,
        key=key,
        good_version=good_version,
        good_sha256=hashlib.sha256(good).hexdigest(),
    )
    state.note(state_file(configuration), CORRUPTED, version=resolved, file=file, mode=mode)
    try:
        bad_version = _client().put_object(Bucket=bucket, Key=key, Body=bad).get("VersionId")
    except (ClientError, BotoCoreError) as exc:
        raise ActivityFailed(f"cannot corrupt s3://{bucket}/{key}: {exc}") from exc
    return {
        "version": resolved,
        "file": file,
        "mode": mode,
        "store": store_url,
        "bucket": bucket,
        "key": key,
        "good_version": good_version,
        "bad_version": bad_version,
    }


def undo_corrupt_s3(bucket: str, key: str, good_version: str, good_sha256: str) -> bool:
    """Copy ``good_version`` back as the current object unless it already is; True if copied."""
    s3 = _client()
    try:
        current = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if hashlib.sha256(current).hexdigest() == good_sha256:
            return False
        s3.copy_object(
            Bucket=bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": key, "VersionId": good_version},
        )
    except (ClientError, BotoCoreError) as exc:
        raise ActivityFailed(
            f"cannot restore s3://{bucket}/{key} to version {good_version}: {exc}"
        ) from exc
    return True


def restore_model(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Restore every object a corruption changed (idempotent)."""
    path = state_file(configuration)
    restored = []
    for entry in state.pending(path, CORRUPT_S3):
        params = entry["params"]
        if undo_corrupt_s3(**params):
            restored.append(f"s3://{params['bucket']}/{params['key']}")
        state.mark_reverted(path, entry["id"])
    return restored


def store_outage(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not from here: an S3 bucket cannot be cut off without the network in between."""
    unsupported("s3_store", "store_outage", _NO_OUTAGE)


def restore_store(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not from here: ``store_outage`` never cuts an S3 bucket off."""
    unsupported("s3_store", "restore_store", _NO_OUTAGE)


UNDO = {CORRUPT_S3: undo_corrupt_s3}
