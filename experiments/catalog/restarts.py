"""Restarting replicas mid-fault, per platform (shared by model-corruption and store-outage)."""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import action, recovery_probe


def restart_zone_replicas(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Restart replicas that must come back ready (from their cache) within the RTO.

    Local: rolling restart of one zone's active replicas (the controller waits for each
    to be ready). Kubernetes: delete one pod and wait for capacity.
    """
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
    return [restart_one_replica(config), recovery_probe("kubernetes", "replicas-ready-again")]


def restart_one_replica(config: dict[str, Any]) -> dict[str, Any]:
    """Restart one active replica without waiting for it: it may rightly refuse to start."""
    if config["platform"] == "local":
        return action(
            "restart-one-replica",
            "experiments.local.actions",
            "kill_replicas",
            {
                "selector": f"${{active_selector}},zone={config['zones'][0]}",
                "count": 1,
                "signal": "TERM",
            },
            secrets=True,
        )
    return action(
        "restart-one-replica",
        "experiments.kubernetes.actions",
        "kill_replicas",
        {"label_selector": "${active_selector}", "ns": "${namespace}", "count": 1},
    )
