"""Global traffic steering between the primary and the DR region: Route 53 failover
records in a private hosted zone, each with a health check on its region's router.

Why Route 53 and not Global Accelerator: the routers sit behind internal NLBs and the
shop frontends call them inside the network; Global Accelerator gives public anycast
IPs, which would make the router public (infra/policy/exposure.py forbids it). Why
CLOUDWATCH_METRIC health checks: Route 53's health checkers run on the internet and
cannot reach an internal NLB (Route 53 developer guide, "Configuring failover in a
private hosted zone"), so each health check reads the alarm of a Synthetics canary that
calls the router's readiness path from inside its VPC (infra/aws/canary.py). Missing
data counts as unhealthy: a lost region stops publishing, and its CloudWatch may be
lost with it.

The records are CNAMEs to the NLB host names with a short TTL, because the Load Balancer
Controller names the NLBs (no alias target zone is known to Pulumi).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

FAILOVER_ROLES = {"primary": "PRIMARY", "dr": "SECONDARY"}
# Seconds a resolver may keep the old answer after a failover: part of the RTO.
RECORD_TTL_S = 30


@dataclass
class SteeringTarget:
    """One region's router, and the alarm (by name and region) that says it is ready."""

    role: str  # primary | dr
    region: pulumi.Input[str]
    host: pulumi.Input[str]
    alarm_name: pulumi.Input[str]


@dataclass
class SteeringArgs:
    zone_id: str
    record: str
    targets: list[SteeringTarget]
    tags: dict[str, str] = field(default_factory=dict)


def host_of(url: str) -> str:
    """``http://host[:port][/]`` -> ``host``: a CNAME names a host, not a URL."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split(":", 1)[0]


class FailoverSteering(pulumi.ComponentResource):
    """A PRIMARY and a SECONDARY record for ``record``, each behind its health check."""

    def __init__(
        self, name: str, args: SteeringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:aws:FailoverSteering", name, None, opts)
        self.health_checks: dict[str, aws.route53.HealthCheck] = {}
        self.records: dict[str, aws.route53.Record] = {}
        for target in args.targets:
            failover = FAILOVER_ROLES[target.role]
            check = aws.route53.HealthCheck(
                f"{name}-{target.role}",
                type="CLOUDWATCH_METRIC",
                cloudwatch_alarm_name=target.alarm_name,
                cloudwatch_alarm_region=target.region,
                insufficient_data_health_status="Unhealthy",
                tags={**args.tags, "Name": f"{name}-{target.role}", "recdrill:role": target.role},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.health_checks[target.role] = check
            self.records[target.role] = aws.route53.Record(
                f"{name}-{target.role}",
                zone_id=args.zone_id,
                name=args.record,
                type="CNAME",
                ttl=RECORD_TTL_S,
                records=[pulumi.Output.from_input(target.host).apply(host_of)],
                set_identifier=pulumi.Output.concat(target.role, "-", target.region),
                failover_routing_policies=[{"type": failover}],
                health_check_id=check.id,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.endpoint = f"http://{args.record}"
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "health_checks": {k: v.id for k, v in self.health_checks.items()},
            }
        )
