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
