"""The experiment catalog (DESIGN.md contract 5): name → module with ``build(configuration)``."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from experiments.catalog import (
    bad_model_rollout,
    load_spike,
    model_corruption,
    replica_loss,
    slow_replica,
    store_outage,
    zone_loss,
)
from experiments.detection import declare_alerts

MODULES: tuple[ModuleType, ...] = (
    replica_loss,
    zone_loss,
    slow_replica,
    store_outage,
    model_corruption,
    bad_model_rollout,
    load_spike,
)
CATALOG: dict[str, ModuleType] = {m.NAME: m for m in MODULES}


class UnknownExperiment(ValueError):
    """An experiment name that is not in the catalog (or not for this platform)."""


def names(platform: str) -> list[str]:
    """The experiments with a rendering for ``platform``, in drill order."""
    return [m.NAME for m in MODULES if platform in m.PLATFORMS]


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
    body = module.build(configuration)
    declare_alerts(body["configuration"], module)
    return body
