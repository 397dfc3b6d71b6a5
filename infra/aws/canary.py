"""Stop conditions for the AWS zone-loss drills: a CloudWatch alarm per zone on a
Synthetics canary that checks the router's SLO from the *other* zones.

Why a canary: the router sits behind an internal NLB, which is layer 4 (no status codes,
no latency) and whose ARN the AWS Load Balancer Controller picks; Container Insights
counts pods, not answers. A canary in the VPC sees what a shop frontend sees, and its
``SuccessPercent`` metric has a name Pulumi knows (CanaryName). Why one per zone: the
zone-loss template cuts its zone's subnets, so a canary running there would fail because
of the fault itself and stop every drill; the alarm for zone Z is judged from the zones
Z does not touch. A missing datapoint counts as breaching: no drill starts, and a running
one stops, while nobody can see the router.

A region pair's stacks add one more canary, from every zone, on the router's readiness
path: its named alarm is what the Route 53 failover health check of the region reads
(infra/aws/steering.py, docs/dr.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.buckets import HardenedBucket
from infra.aws.versions import CANARY_RUNTIME
from infra.policy.storage import REGENERATED

SCRIPT = Path(__file__).with_name("router_canary.py")
HANDLER = "router_canary.handler"
READINESS_HANDLER = "router_canary.readiness_handler"
# The router's readiness path (serving/router/app.py): the steering canary's target.
READY_PATH = "/readyz"
METRIC_NAMESPACE = "CloudWatchSynthetics"
METRIC_NAME = "SuccessPercent"
ROUTER_PORT = 80
# Two failed runs in a row (two minutes) trip the alarm: one lost request is noise.
FAILED_MINUTES = 2


def canary_name(environment: str, zone: str) -> str:
    """Synthetics names: at most 21 characters of [a-z0-9_-]."""
    name = f"rd-{environment}-{zone.rsplit('-', 1)[-1]}".lower()
    if len(name) > 21:
        raise ValueError(f"canary name {name!r} is longer than 21 characters")
    return name


def readiness_canary_name(environment: str) -> str:
    name = f"rd-{environment}-ready".lower()
    if len(name) > 21:
        raise ValueError(f"canary name {name!r} is longer than 21 characters")
    return name


def readiness_alarm_name(environment: str, region: str) -> str:
    """Fixed, so the other region's stack can name it in its Route 53 health check."""
    return f"recdrill-{environment}-{region}-router-ready"


@dataclass
class CanaryArgs:
    environment: str
    artifact_bucket_name: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    # zone -> that zone's private subnet id; each zone's canary runs in the others.
    private_subnets: dict[str, pulumi.Input[str]]
    router_url: pulumi.Input[str]
    availability: float
    p99_ms: float
    # The steering canary fails a region answering more degraded (popular-items) answers.
    max_degraded_ratio: float
    tags: dict[str, str] = field(default_factory=dict)
    # Multi-region stacks: the name of the alarm a Route 53 health check watches; a
    # canary from every zone checks the router's readiness path for it.
    readiness_alarm_name: str | None = None


def canary_role_policy(bucket_arn: str, key_arn: str) -> str:
    """Write its artifacts, publish its metrics, run inside the VPC; nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Artifacts",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetBucketLocation"],
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                },
                {
                    "Sid": "ArtifactKey",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": key_arn,
                },
                {
                    "Sid": "Metrics",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
                },
                {
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/cwsyn-*",
                },
                {
                    "Sid": "VpcNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DeleteNetworkInterface",
                    ],
                    "Resource": "*",
                },
            ],
        }
    )


class RouterCanaries(pulumi.ComponentResource):
    """One canary and one alarm per zone; ``alarms[zone]`` is that zone's stop condition."""

    def __init__(
        self, name: str, args: CanaryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:RouterCanaries", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        artifacts = HardenedBucket(
            f"{name}-artifacts",
            args.artifact_bucket_name,
            14,
            # Regenerated every minute: exempt from DR replication (infra/policy/storage.py).
            {**args.tags, **REGENERATED},
            opts=child,
        )
        code = aws.s3.BucketObjectv2(
            f"{name}-code",
            bucket=artifacts.bucket.bucket,
            key="code/router_canary.zip",
            source=pulumi.AssetArchive({"python/router_canary.py": pulumi.FileAsset(str(SCRIPT))}),
            tags=args.tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.name,
            policy=artifacts.key.arn.apply(lambda key: canary_role_policy(artifacts.arn, key)),
            opts=child,
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="recdrill router canary: the router inside the VPC, AWS APIs on 443",
            egress=[
                {
                    "protocol": "tcp",
                    "from_port": ROUTER_PORT,
                    "to_port": ROUTER_PORT,
                    "cidr_blocks": [args.vpc_cidr],
                },
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
            ],
            tags=args.tags,
            opts=child,
        )
        self.canaries: dict[str, aws.synthetics.Canary] = {}
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        common = {
            "runtime_version": CANARY_RUNTIME,
            "s3_bucket": code.bucket,
            "s3_key": code.key,
            "s3_version": code.version_id,
            "execution_role_arn": role.arn,
            "artifact_s3_location": pulumi.Output.concat("s3://", artifacts.bucket.bucket, "/"),
            "artifact_config": {
                "s3_encryption": {"encryption_mode": "SSE_KMS", "kms_key_arn": artifacts.key.arn}
            },
            "schedule": {"expression": "rate(1 minute)"},
            "start_canary": True,
            "success_retention_period": 2,
            "failure_retention_period": 14,
        }
        self.readiness_alarm: aws.cloudwatch.MetricAlarm | None = None
        if args.readiness_alarm_name:
            self.readiness_alarm = self._readiness(name, args, common, group.id)
        for zone in args.private_subnets:
            others = [s for z, s in args.private_subnets.items() if z != zone]
            canary = aws.synthetics.Canary(
                f"{name}-{zone}",
                name=canary_name(args.environment, zone),
                handler=HANDLER,
                run_config={
                    "timeout_in_seconds": 50,
                    "environment_variables": {
                        "ROUTER_URL": args.router_url,
                        "REQUESTS": "20",
                        "TIMEOUT_S": "2",
                        "MAX_ERROR_RATIO": f"{1.0 - args.availability:.6f}",
                        "P99_MS": f"{args.p99_ms:g}",
                    },
                },
                vpc_config={"subnet_ids": others, "security_group_ids": [group.id]},
                tags={**args.tags, "recdrill:zone": zone},
                opts=child,
                **common,
            )
            self.canaries[zone] = canary
            self.alarms[zone] = aws.cloudwatch.MetricAlarm(
                f"{name}-{zone}-slo",
                alarm_description=(
                    f"router outside its SLO seen from outside {zone}: stops the "
                    f"{zone} zone-loss drill"
                ),
                namespace=METRIC_NAMESPACE,
                metric_name=METRIC_NAME,
                dimensions={"CanaryName": canary.name},
                statistic="Average",
                period=60,
                evaluation_periods=FAILED_MINUTES,
                datapoints_to_alarm=FAILED_MINUTES,
                comparison_operator="LessThanThreshold",
                threshold=100,
                treat_missing_data="breaching",
                tags={**args.tags, "recdrill:zone": zone},
                opts=child,
            )
        self.register_outputs({"alarms": {z: a.arn for z, a in self.alarms.items()}})

    def _readiness(
        self,
        name: str,
        args: CanaryArgs,
        common: dict[str, Any],
        security_group: pulumi.Input[str],
    ) -> aws.cloudwatch.MetricAlarm:
        """One canary over every zone's subnet (a zone loss must not fail the region over)
        and the named alarm Route 53 reads; missing data is breaching, as a dead region
        publishes nothing."""
        canary = aws.synthetics.Canary(
            f"{name}-ready",
            name=readiness_canary_name(args.environment),
            handler=READINESS_HANDLER,
            run_config={
                "timeout_in_seconds": 30,
                "environment_variables": {
                    "ROUTER_URL": args.router_url,
                    "READY_PATH": READY_PATH,
                    "TIMEOUT_S": "5",
                    "REQUESTS": "5",
                    "MAX_DEGRADED_RATIO": f"{args.max_degraded_ratio:g}",
                },
            },
            vpc_config={
                "subnet_ids": list(args.private_subnets.values()),
                "security_group_ids": [security_group],
            },
            tags={**args.tags, "recdrill:purpose": "steering"},
            opts=pulumi.ResourceOptions(parent=self),
            **common,
        )
        self.canaries["ready"] = canary
        return aws.cloudwatch.MetricAlarm(
            f"{name}-ready",
            name=args.readiness_alarm_name,
            alarm_description=(
                f"router readiness ({READY_PATH}) of this region fails: Route 53 fails over"
            ),
            namespace=METRIC_NAMESPACE,
            metric_name=METRIC_NAME,
            dimensions={"CanaryName": canary.name},
            statistic="Average",
            period=60,
            evaluation_periods=FAILED_MINUTES,
            datapoints_to_alarm=FAILED_MINUTES,
            comparison_operator="LessThanThreshold",
            threshold=100,
            treat_missing_data="breaching",
            tags={**args.tags, "recdrill:purpose": "steering"},
            opts=pulumi.ResourceOptions(parent=self),
        )
