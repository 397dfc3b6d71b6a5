"""Fault drivers, one per platform, with the same verbs and the same parameters.

``local`` (the local controller's processes), ``kubernetes`` (the cluster API),
``file_store`` and ``s3_store`` (the model store) each expose every verb in
``VERBS``; a verb that cannot exist on a platform raises ``ActivityFailed`` saying so.
Platform details (namespace, zone label, store URL, control URL, state file) come from
the experiment's ``configuration``, so the catalog names a driver once and never forks.
"""

from __future__ import annotations

__all__ = ["DRIVERS", "VERBS", "driver_for"]

VERBS = (
    "kill_replicas",
    "wait_for_replacement",
    "freeze_replicas",
    "thaw_replicas",
    "restart_replicas",
    "zone_down",
    "zone_hang",
    "zone_up",
    "wait_for_zone_return",
    "store_outage",
    "restore_store",
    "corrupt_model",
    "restore_model",
    "check_refusal",
    "ready_capacity",
    "wait_for_capacity",
    "region_down",
    "region_up",
    "slow_replication",
    "restore_replication",
)
DRIVERS = {
    "local": "experiments.faults.local",
    "kubernetes": "experiments.faults.kubernetes",
    "file": "experiments.faults.file_store",
    "s3": "experiments.faults.s3_store",
    "aws": "experiments.faults.aws",
}


def driver_for(platform: str) -> str:
    """The driver module of ``platform`` (``local``, ``kubernetes``), by import path."""
    try:
        return DRIVERS[platform]
    except KeyError:
        raise ValueError(f"no fault driver for platform {platform!r}") from None
