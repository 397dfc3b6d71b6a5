"""The experiment catalog (DESIGN.md contract 5): name → module with ``build(configuration)``.

A module with ``REQUIRES = "regions"`` (region-loss, replication-lag) needs a deployment
with a DR region: it is left out of single-region runs, and naming it for one is refused
with a message saying how to bring regions up.

Each module declares ``BLAST_RADIUS``, a rank from the smallest harm to the largest, so
``run --escalate`` can stop on one pod before it ever takes down a zone.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from experiments.catalog import (
    bad_model_rollout,
    load_spike,
    model_corruption,
    model_rollout,
    region_loss,
    replica_loss,
    replication_lag,
    serving_outage,
    slow_replica,
    store_outage,
    zone_hang,
    zone_loss,
)
from experiments.detection import declare_alerts

MODULES: tuple[ModuleType, ...] = (
    replica_loss,
    zone_loss,
    zone_hang,
    slow_replica,
    store_outage,
    model_corruption,
    bad_model_rollout,
    model_rollout,
    load_spike,
    serving_outage,
    replication_lag,
    region_loss,
)
CATALOG: dict[str, ModuleType] = {m.NAME: m for m in MODULES}


class UnknownExperiment(ValueError):
    """An experiment name that is not in the catalog (or not for this platform)."""


class BlastRadiusError(ValueError):
    """A blast-radius parameter outside what the deployment has."""


REGIONS = "regions"


def at_design_peak(name: str) -> bool:
    """Whether ``name`` runs at the design peak (it loses capacity) rather than the base load."""
    return bool(getattr(CATALOG[name], "AT_DESIGN_PEAK", False))


def needs_regions(name: str) -> bool:
    """Whether experiment ``name`` needs a deployment with a DR region."""
    return getattr(CATALOG[name], "REQUIRES", None) == REGIONS


def names(platform: str, regions: bool = False) -> list[str]:
    """The experiments with a rendering for ``platform``, in drill order.

    Those that need regions only when ``regions`` (the deployment has a DR region).
    """
    return [
        m.NAME
        for m in MODULES
        if platform in m.PLATFORMS and (regions or not needs_regions(m.NAME))
    ]


def region_names(platform: str) -> list[str]:
    """The experiments for ``platform`` that need regions, in drill order."""
    return [n for n in names(platform, regions=True) if needs_regions(n)]


def check_regions(wanted: list[str], regions: bool) -> None:
    """Refuse region experiments named for a single-region deployment, saying why."""
    lacking = [n for n in wanted if n in CATALOG and needs_regions(n) and not regions]
    if lacking:
        raise UnknownExperiment(
            f"experiment(s) {', '.join(lacking)} need a deployment with regions; this one "
            "has none: bring one up with `python -m infra.local up --regions 2`"
        )


def escalation_order(platform: str, regions: bool = False) -> list[str]:
    """The experiments for ``platform`` from the smallest blast radius to the largest."""
    return sorted(names(platform, regions), key=lambda name: CATALOG[name].BLAST_RADIUS)


def check_blast_radius(configuration: dict[str, Any]) -> None:
    """Blast-radius parameters must fit the deployment: a clear error, never a surprise."""
    active = int(configuration.get("active_replicas") or 0)
    count = configuration.get("blast_replicas", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= max(active, 1):
        raise BlastRadiusError(
            f"blast_replicas must be a whole number from 1 to {active} (the active "
            f"replicas), got {count!r}"
        )
    zone = configuration.get("blast_zone")
    if zone is not None and zone not in configuration.get("zones", []):
        raise BlastRadiusError(
            f"blast_zone {zone!r} is not one of the deployment's zones {configuration.get('zones')}"
        )
    factor = configuration.get("spike_factor", 1.5)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 1:
        raise BlastRadiusError(
            f"spike_factor must be a number above 1 (total traffic during the spike as a "
            f"multiple of normal), got {factor!r}"
        )


def build(name: str, configuration: dict[str, Any]) -> dict[str, Any]:
    """The Chaos Toolkit experiment ``name`` for the platform in ``configuration``."""
    platform = configuration["platform"]
    module = CATALOG.get(name)
    if module is None:
        raise UnknownExperiment(f"unknown experiment {name!r}; known: {', '.join(CATALOG)}")
    if platform not in module.PLATFORMS:
        raise UnknownExperiment(
            f"experiment {name!r} has no {platform} rendering (only {', '.join(module.PLATFORMS)})"
        )
    check_regions([name], bool(configuration.get("regions")))
    check_blast_radius(configuration)
    body = module.build(configuration)
    declare_alerts(body["configuration"], module)
    return body
