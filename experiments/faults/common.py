"""What every driver shares: the state file from the configuration, refusals, store choice."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, NoReturn

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from experiments.faults import DRIVERS


def state_file(configuration: Configuration) -> str:
    """The rollback state file the catalog put in the configuration."""
    path = (configuration or {}).get("state_file")
    if not path:
        raise ActivityFailed("configuration has no 'state_file': render the experiment first")
    return str(path)


def setting(configuration: Configuration, key: str, default: Any = None) -> Any:
    """A platform detail from the configuration, or ``default``; absent and no default fails."""
    value = (configuration or {}).get(key, default)
    if value is None or value == "":
        raise ActivityFailed(f"configuration has no {key!r}")
    return value


def unsupported(driver: str, verb: str, why: str) -> NoReturn:
    raise ActivityFailed(f"the {driver} driver cannot {verb.replace('_', ' ')}: {why}")


def store_driver(configuration: Configuration) -> ModuleType:
    """The store driver (file or s3) for the configuration's ``model_store_url``."""
    url = str(setting(configuration, "model_store_url"))
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("file", "s3"):
        raise ActivityFailed(f"model store {url!r} is neither file:// nor s3://")
    return importlib.import_module(DRIVERS[scheme])
