"""Model buckets: versioned, SSE-KMS, private, TLS-only; prod replicates to a DR region
with Replication Time Control so a regional loss leaves a copy at most ~15 minutes old."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

RTC_MINUTES = 15  # S3 RTC's only value; the metrics threshold must match it.
REPLICATION_RULE_ID = "models-to-dr"


def bucket_arn(bucket_name: str) -> str:
    """ARNs from the configured (globally unique) name, so they are known at preview."""
    return f"arn:aws:s3:::{bucket_name}"


def tls_only_policy(bucket_name: str) -> str:
    arn = bucket_arn(bucket_name)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


@dataclass
class ModelBucketsArgs:
    bucket_name: str
    noncurrent_days: int = 30
    dr_bucket_name: str | None = None
    dr_provider: aws.Provider | None = None
    tags: dict[str, str] = field(default_factory=dict)


class HardenedBucket(pulumi.ComponentResource):
    """One bucket with every guard the invariants check, and its own rotating KMS key."""

    def __init__(
        self,
        name: str,
        bucket_name: str,
        noncurrent_days: int,
        tags: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("recdrill:aws:HardenedBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket_name = bucket_name
        self.arn = bucket_arn(bucket_name)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"SSE-KMS for s3://{bucket_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=child,
        )
        self.bucket = aws.s3.Bucket(f"{name}-bucket", bucket=bucket_name, tags=tags, opts=child)
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.bucket,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-sse",
            bucket=self.bucket.bucket,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": self.key.arn,
                    },
                    # One KMS call per bucket-key period instead of per object.
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.bucket,
            policy=tls_only_policy(bucket_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[access_block]),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.bucket,
            rules=[
                {
                    # Old versions stay long enough to roll back a corrupted object.
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "key_arn": self.key.arn})


def replication_policy(source: HardenedBucket, destination: HardenedBucket) -> pulumi.Output[str]:
    """Least privilege for S3 replication: read versions here, write replicas there."""
    return pulumi.Output.all(source.key.arn, destination.key.arn).apply(
        lambda keys: json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                        "Resource": source.arn,
                    },
                    {
                        "Effect": "Allow",
                        "Action": [
                            "s3:GetObjectVersionForReplication",
                            "s3:GetObjectVersionAcl",
                            "s3:GetObjectVersionTagging",
                        ],
                        "Resource": f"{source.arn}/*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                        "Resource": f"{destination.arn}/*",
                    },
                    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": keys[0]},
                    {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": keys[1]},
                ],
            }
        )
    )


class ModelBuckets(pulumi.ComponentResource):
    """The primary model bucket and, when a DR provider is given, its replica."""

    def __init__(
        self, name: str, args: ModelBucketsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:ModelBuckets", name, None, opts)
        self.primary = HardenedBucket(
            f"{name}-primary",
            args.bucket_name,
            args.noncurrent_days,
            args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dr: HardenedBucket | None = None
        if args.dr_bucket_name and args.dr_provider is not None:
            self.dr = HardenedBucket(
                f"{name}-dr",
                args.dr_bucket_name,
                args.noncurrent_days,
                args.tags,
                opts=pulumi.ResourceOptions(parent=self, providers={"aws": args.dr_provider}),
            )
            self._replicate(name, self.primary, self.dr, args.tags)
        self.register_outputs(
            {
                "bucket": self.primary.bucket.bucket,
                "dr_bucket": self.dr.bucket.bucket if self.dr else None,
            }
        )

    def _replicate(
        self, name: str, source: HardenedBucket, destination: HardenedBucket, tags: dict[str, str]
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-replication-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-replication",
            role=role.name,
            policy=replication_policy(source, destination),
            opts=child,
        )
        self.replication = aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=source.bucket.bucket,
            role=role.arn,
            rules=[
                {
                    "id": REPLICATION_RULE_ID,
                    "status": "Enabled",
                    "priority": 1,
                    "filter": {},
                    "delete_marker_replication": {"status": "Enabled"},
                    "source_selection_criteria": {
                        "sse_kms_encrypted_objects": {"status": "Enabled"}
                    },
                    "destination": {
                        "bucket": destination.arn,
                        "storage_class": "STANDARD",
                        "encryption_configuration": {"replica_kms_key_id": destination.key.arn},
                        "replication_time": {"status": "Enabled", "time": {"minutes": RTC_MINUTES}},
                        "metrics": {
                            "status": "Enabled",
                            "event_threshold": {"minutes": RTC_MINUTES},
                        },
                    },
                }
            ],
            # S3 refuses replication until versioning is on at both ends.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[source.versioning, destination.versioning, policy]
            ),
        )
