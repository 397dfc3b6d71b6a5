"""RPO alarms on the model bucket's replication: S3 Replication Time Control publishes
``ReplicationLatency`` (seconds the destination is behind, per rule) and
``OperationsPendingReplication`` in the AWS/S3 namespace, dimensioned by SourceBucket,
DestinationBucket and RuleId, in the source bucket's region. A promoted version that has
not reached the DR bucket within the RTC window (15 min) is a version the DR region
cannot serve: the RPO is being exceeded now, before any region is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.aws.buckets import RTC_MINUTES

NAMESPACE = "AWS/S3"
RTC_WINDOW_S = RTC_MINUTES * 60
PERIOD_S = 300


@dataclass
class ReplicationAlarmsArgs:
    source_bucket: str
    destination_bucket: str
    rule_id: str
    tags: dict[str, str] = field(default_factory=dict)


class ReplicationAlarms(pulumi.ComponentResource):
    """Latency past the RTC window, and operations left pending for a whole window."""

    def __init__(
        self, name: str, args: ReplicationAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:ReplicationAlarms", name, None, opts)
        dimensions = {
            "SourceBucket": args.source_bucket,
            "DestinationBucket": args.destination_bucket,
            "RuleId": args.rule_id,
        }
        # No replication traffic publishes no datapoints: that is fine, not breaching.
        common = {
            "namespace": NAMESPACE,
            "dimensions": dimensions,
            "statistic": "Maximum",
            "period": PERIOD_S,
            "treat_missing_data": "notBreaching",
            "tags": {**args.tags, "recdrill:purpose": "rpo"},
            "opts": pulumi.ResourceOptions(parent=self),
        }
        self.latency = aws.cloudwatch.MetricAlarm(
            f"{name}-latency",
            alarm_description=(
                f"replication to {args.destination_bucket} is more than the RTC window "
                f"({RTC_MINUTES} min) behind: the DR region may serve an old version"
            ),
            metric_name="ReplicationLatency",
            evaluation_periods=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=RTC_WINDOW_S,
            **common,
        )
        self.pending = aws.cloudwatch.MetricAlarm(
            f"{name}-pending",
            alarm_description=(
                f"objects stayed pending replication to {args.destination_bucket} for the "
                f"whole RTC window ({RTC_MINUTES} min)"
            ),
            metric_name="OperationsPendingReplication",
            evaluation_periods=RTC_WINDOW_S // PERIOD_S,
            datapoints_to_alarm=RTC_WINDOW_S // PERIOD_S,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            **common,
        )
        self.register_outputs({"latency": self.latency.arn, "pending": self.pending.arn})
