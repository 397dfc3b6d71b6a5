"""The region verbs of the cluster drivers (kubernetes, aws): not built there, so they refuse.

A Kubernetes cluster is one region, and on AWS region loss is a drill of the global
steering (the Route 53 health check fails over when the primary's routers are made
unready), which these drivers do not do yet. The local environment has the real thing.
"""

from __future__ import annotations

from typing import Any

from chaoslib.types import Configuration, Secrets

from experiments.faults.common import unsupported

_WHY = (
    "a cluster is one region and these drivers do not steer global traffic; region loss is "
    "drilled on the local environment (python -m infra.local up --regions 2)"
)


def region_down(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a cluster driver: it cannot lose a whole region."""
    unsupported("cluster", "region_down", _WHY)


def region_up(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a cluster driver: it cannot lose a whole region, so none comes back."""
    unsupported("cluster", "region_up", _WHY)


_NO_SLOWING = (
    "S3 replication cannot be slowed from outside (its lag is AWS's); there the drill of a "
    "late version is the Replication Time Control alarm (15 min), and the local "
    "environment's replicator is the one that can be slowed"
)


def slow_replication(
    lag_s: float = 30.0,
    spread_s: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Any:
    """Not on a cluster driver: S3 replication cannot be slowed; drill the RTC alarm."""
    unsupported("cluster", "slow_replication", _NO_SLOWING)


def restore_replication(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a cluster driver: replication was never slowed there."""
    unsupported("cluster", "restore_replication", _NO_SLOWING)
