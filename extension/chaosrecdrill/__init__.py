"""Chaos Toolkit discovery for recdrill: lists the faults (actions) and probes with their docs.

Every module under ``experiments.faults`` and ``experiments.probes`` that declares
``__all__`` is an activity module, as in chaostoolkit-kubernetes; what it exports is
what ``chaos discover`` lists, so people can use the same activities in their own
experiments.
"""

from __future__ import annotations

import importlib
import pkgutil

from chaoslib.discovery.discover import discover_activities, initialize_discovery_result
from chaoslib.types import DiscoveredActivities, Discovery

__version__ = "0.1.0"
__all__ = ["activity_modules", "discover", "discover_all_activities"]

ACTIVITY_PACKAGES = {
    "experiments.faults": "action",
    "experiments.probes": "probe",
}


def activity_modules() -> dict[str, str]:
    """Module name → activity type, for every module that exports activities."""
    found: dict[str, str] = {}
    for package_name, kind in ACTIVITY_PACKAGES.items():
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{package_name}."):
            if info.ispkg or info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            if getattr(importlib.import_module(info.name), "__all__", None):
                found[info.name] = kind
    return found


def discover_all_activities() -> DiscoveredActivities:
    activities: DiscoveredActivities = []
    for module, kind in sorted(activity_modules().items()):
        activities.extend(discover_activities(module, kind))
    return activities


def discover(discover_system: bool = True) -> Discovery:
    """The discovery document chaostoolkit asks every extension for."""
    discovery = initialize_discovery_result("chaostoolkit-recdrill", __version__, "recdrill")
    discovery["activities"].extend(discover_all_activities())
    return discovery
