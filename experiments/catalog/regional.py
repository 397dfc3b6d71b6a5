"""What the two region experiments share: the failover budget and the DR checks.

Their steady state is judged through the global endpoint (the front door), because the
primary's controller and router are what region-loss takes away: the SLO window with
the failover budget, and the DR replicas serving only versions whole in the DR store.
"""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import SLO, probe

REGIONS = "experiments.probes.regions"

# The failover budget. Availability: at most 1% of requests may fail over a window that
# holds a failover (the budget; the front door retries in the other region, so
# most of them do not). p99: a request caught by the primary's death waits out a
# connection failure and its retry in the DR region, so 1 s, four times the SLO's 250 ms.
FAILOVER: dict[str, Any] = {"failover_availability": 0.99, "failover_p99_ms": 1000.0}


def failover_slo_probe() -> dict[str, Any]:
    return probe(
        "slo-window-failover-budget",
        SLO,
        "measure_window",
        {
            "endpoint": "${endpoint}",
            "duration_s": "${ssh_window_s}",
            "rate_rps": "${ssh_rate_rps}",
            "timeout_s": "${request_timeout_s}",
        },
        tolerance=probe(
            "slo-window-within-failover-budget",
            SLO,
            "within_slo",
            {
                "availability": "${failover_availability}",
                "p99_ms": "${failover_p99_ms}",
                "max_degraded_ratio": "${slo_max_degraded_ratio}",
                "max_shed_ratio": "${max_shed_ratio}",
            },
        ),
    )


def dr_whole_probe(name: str = "dr-serves-only-whole-versions", watch_s: Any = 0.0) -> dict:
    """Every version a DR replica serves is whole in the DR store (fails on a partial one)."""
    return probe(
        name,
        REGIONS,
        "dr_serves_whole_versions",
        {"watch_s": watch_s},
        secrets=True,
        tolerance=probe("dr-replicas-answered", REGIONS, "dr_replicas_answered", {}),
    )


def regional_hypothesis(title: str) -> dict[str, Any]:
    return {"title": title, "probes": [failover_slo_probe(), dr_whole_probe()]}


def require_regions(name: str, config: dict[str, Any]) -> None:
    """Refuse a single-region deployment, naming how to get one with regions."""
    missing = [k for k in ("regions", "dr_control_url", "dr_store_url") if not config.get(k)]
    if missing:
        raise ValueError(
            f"experiment {name!r} needs a deployment with regions (missing {missing[0]!r}): "
            "bring one up with `python -m infra.local up --regions 2`"
        )
