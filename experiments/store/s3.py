"""Corrupt an S3 object and restore it through bucket versioning (boto3).

The endpoint for moto or MinIO comes from ``RECDRILL_S3_ENDPOINT_URL`` like the store's.
Restoring copies the recorded good object version back on top, so the bucket's history
keeps both the corruption and the repair.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from chaoslib.exceptions import ActivityFailed

from model.store import S3_ENDPOINT_ENV


def client():
    endpoint = os.environ.get(S3_ENDPOINT_ENV) or os.environ.get("AWS_ENDPOINT_URL_S3")
    return boto3.client("s3", endpoint_url=endpoint) if endpoint else boto3.client("s3")


def split(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → (``bucket``, ``a/b``)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ActivityFailed(f"{url!r} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


def read_good(url: str) -> dict[str, Any]:
    """What restoring ``url`` needs: the current (good) object version and its sha256."""
    bucket, key = split(url)
    s3 = client()
    try:
        versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        if versioning != "Enabled":
            raise ActivityFailed(
                f"bucket {bucket} has no versioning enabled: corrupting {key} could not be undone"
            )
        head = s3.get_object(Bucket=bucket, Key=key)
        good = head["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise ActivityFailed(f"cannot read s3://{bucket}/{key}: {exc}") from exc
    return {
        "bucket": bucket,
        "key": key,
        "good_version": head.get("VersionId"),
        "good_sha256": hashlib.sha256(good).hexdigest(),
        "good": good,
    }


def put_corrupt(bucket: str, key: str, good: bytes) -> str | None:
    """Write flipped bytes as a new object version; returns its version id."""
    try:
        return client().put_object(Bucket=bucket, Key=key, Body=flip(good)).get("VersionId")
    except (ClientError, BotoCoreError) as exc:
        raise ActivityFailed(f"cannot corrupt s3://{bucket}/{key}: {exc}") from exc


def restore_object(bucket: str, key: str, good_version: str, good_sha256: str) -> bool:
    """Copy ``good_version`` back as the current object unless it already is; True if copied."""
    s3 = client()
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


def flip(data: bytes) -> bytes:
    """Same length, different bytes: a checksum must catch it, a size check cannot."""
    if not data:
        return b"\x00"
    middle = len(data) // 2
    span = min(64, len(data) - middle)
    return (
        data[:middle]
        + bytes(b ^ 0xFF for b in data[middle : middle + span])
        + data[middle + span :]
    )
