"""Restarting replicas mid-fault, per platform (shared by model-corruption and store-outage)."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, probe


def restart_zone_replicas(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Local: rolling restart of one zone's active replicas. Kubernetes: delete one pod."""
    if config["platform"] == "local":
        return [
            action(
                "rolling-restart-replicas",
                "experiments.local.actions",
                "restart_replicas",
                {"selector": f"${{active_selector}},zone={config['zones'][0]}", "rolling": True},
                secrets=True,
            )
        ]
    return [
        action(
            "restart-one-replica",
            "experiments.kubernetes.actions",
            "kill_replicas",
            {"label_selector": "${active_selector}", "ns": "${namespace}", "count": 1},
        ),
        probe(
            "replicas-ready-again",
            "experiments.kubernetes.probes",
            "wait_for_capacity",
            {
                "label_selector": "${active_selector}",
                "min_per_zone": "${replicas_per_zone}",
                "timeout_s": "${slo_rto_s}",
                "ns": "${namespace}",
                "zone_label": "${zone_label}",
            },
        ),
    ]
