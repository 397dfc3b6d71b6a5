"""Quota and cost figures come from the stack files, and docs/infra.md shows them."""

from __future__ import annotations

from pathlib import Path

from infra.aws.sizing import HOURLY_USD, sizing, table

ROOT = Path(__file__).resolve().parents[2]


def test_quota_covers_every_zone_at_max_size() -> None:
    dev = sizing("dev")  # 2 zones × 3 nodes max × 4 vCPU (g5.xlarge)
    assert (dev.gpu_nodes_steady, dev.gpu_nodes_max, dev.gpu_vcpu_quota) == (4, 6, 24)
    prod = sizing("prod")  # 3 zones × 8 nodes max × 8 vCPU (g5.2xlarge)
    assert prod.gpu_vcpu_quota == 192


def test_hourly_cost_adds_cluster_nat_lb_system_and_gpu_nodes() -> None:
    staging = sizing("staging")
    fixed = 0.10 + 3 * (0.048 + 0.005) + 0.0252 + 2 * HOURLY_USD["m6i.large"]
    assert staging.usd_per_hour_steady == round(fixed + 9 * HOURLY_USD["g5.xlarge"], 2)


def test_the_standby_and_the_headroom_are_priced_a_gpu_replica_each() -> None:
    prod = sizing("prod")  # 3 standby replicas, 1 placeholder in each of 3 zones, 1 a node
    assert prod.standby_usd_per_hour == round(3 * HOURLY_USD["g5.2xlarge"], 2)
    assert prod.headroom_usd_per_hour == round(3 * HOURLY_USD["g5.2xlarge"], 2)
    assert 0 < prod.standby_share < 1
    assert sizing("dev").headroom_usd_per_hour == 0.0  # dev keeps no placeholders


def test_docs_show_the_computed_table() -> None:
    assert table() in (ROOT / "docs" / "infra.md").read_text()
