"""What a stack asks of an AWS account: the G-instance vCPU quota it needs and what it
costs per hour, computed from its stack file (``python -m infra.aws.sizing`` prints the
table docs/infra.md shows).

Prices are on-demand Linux list prices for eu-west-1 (Ireland), the region of every
stack file, in USD per hour (see PRICES_AS_OF); they exclude data transfer, NAT and
load balancer per-GB/LCU charges, EBS, S3 and CloudWatch. Check the AWS pricing pages
before budgeting: prices change, and this machine cannot reach them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.config import EnvSpec, spec_from_dict

# Honest provenance: AWS list prices for eu-west-1 as last known (2025), not re-read from
# the live pricing page (unreachable here); a June 2026 source confirms g5.xlarge at
# $1.006/h in us-east-1, and eu-west-1 runs about 10 % above us-east-1 for these types.
PRICES_AS_OF = "2025 list prices, not re-checked live; verify before budgeting"
REGION = "eu-west-1"
HOURLY_USD: dict[str, float] = {
    "g5.xlarge": 1.123,
    "g5.2xlarge": 1.353,
    "m6i.large": 0.107,
    "m6i.xlarge": 0.214,
    "eks-cluster-standard": 0.10,
    "eks-cluster-extended": 0.60,
    "nat-gateway": 0.048,
    "public-ipv4": 0.005,
    "network-load-balancer": 0.0252,
}
# vCPUs per instance type (the "Running On-Demand G and VT instances" quota counts vCPUs).
VCPUS: dict[str, int] = {"g5.xlarge": 4, "g5.2xlarge": 8, "m6i.large": 2, "m6i.xlarge": 4}
EKS_STACKS = ("dev", "staging", "prod", "prod-dr")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sizing:
    stack: str
    gpu_instance_type: str
    gpu_nodes_steady: int
    gpu_nodes_max: int
    gpu_vcpu_quota: int
    standard_vcpu_quota: int
    usd_per_hour_steady: float
    usd_per_hour_max: float
    standby_replicas: int = 0
    standby_usd_per_hour: float = 0.0
    headroom_usd_per_hour: float = 0.0

    @property
    def standby_share(self) -> float:
        """The warm standby's part of the steady bill."""
        return self.standby_usd_per_hour / self.usd_per_hour_steady


def stack_spec(stack: str) -> EnvSpec:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("recdrill:")}
    return spec_from_dict({**raw, "region": config.get("aws:region")})


def sizing(stack: str) -> Sizing:
    """Steady = every zone at gpu_nodes_desired; max = every zone at gpu_nodes_max (the
    quota must cover max, or the autoscaler's scale-up fails exactly during a drill)."""
    spec = stack_spec(stack)
    zones = len(spec.zones)
    steady, ceiling = spec.gpu_nodes_desired * zones, spec.gpu_nodes_max * zones
    gpu_vcpus = VCPUS[spec.gpu_instance_type]
    system_vcpus = VCPUS[spec.system_instance_type]
    support = (
        "eks-cluster-standard" if spec.eks_support_type == "STANDARD" else "eks-cluster-extended"
    )
    fixed = (
        HOURLY_USD[support]
        + zones * (HOURLY_USD["nat-gateway"] + HOURLY_USD["public-ipv4"])
        + HOURLY_USD["network-load-balancer"]
        + spec.system_nodes * HOURLY_USD[spec.system_instance_type]
    )
    gpu_price = HOURLY_USD[spec.gpu_instance_type]
    per_replica = gpu_price / spec.replicas_per_node
    placeholders = spec.standby_placeholders_per_zone * zones
    return Sizing(
        stack=stack,
        gpu_instance_type=spec.gpu_instance_type,
        gpu_nodes_steady=steady,
        gpu_nodes_max=ceiling,
        gpu_vcpu_quota=ceiling * gpu_vcpus,
        # The system group may double (max_size = 2 × system_nodes) during updates.
        standard_vcpu_quota=2 * spec.system_nodes * system_vcpus,
        usd_per_hour_steady=round(fixed + steady * gpu_price, 2),
        usd_per_hour_max=round(fixed + ceiling * gpu_price, 2),
        standby_replicas=spec.standby_replicas,
        standby_usd_per_hour=round(spec.standby_replicas * per_replica, 2),
        headroom_usd_per_hour=round(placeholders * per_replica, 2),
    )


def table(stacks: tuple[str, ...] = EKS_STACKS) -> str:
    lines = [
        "| stack | GPU nodes (steady / max) | G vCPU quota | standard vCPU quota | "
        "USD/h steady | USD/h at max | of which warm standby | of which headroom |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in map(sizing, stacks):
        lines.append(
            f"| `{s.stack}` | {s.gpu_nodes_steady} / {s.gpu_nodes_max} × {s.gpu_instance_type} "
            f"| {s.gpu_vcpu_quota} | {s.standard_vcpu_quota} | "
            f"{s.usd_per_hour_steady:.2f} | {s.usd_per_hour_max:.2f} | "
            f"{s.standby_usd_per_hour:.2f} ({s.standby_replicas} replicas) | "
            f"{s.headroom_usd_per_hour:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    print(table())
    print(
        f"\nOn-demand {REGION} prices as of {PRICES_AS_OF}: "
        + ", ".join(f"{k} ${v}/h" for k, v in HOURLY_USD.items())
    )


if __name__ == "__main__":
    main()
