"""The replica and zone verbs of the store drivers: a model store has none, so they refuse.

Both store drivers re-export these, so every driver still answers every verb (the
catalog may ask any driver for any verb and gets a clear ``ActivityFailed`` back).
"""

from __future__ import annotations

from typing import Any

from chaoslib.types import Configuration, Secrets

from experiments.faults.common import unsupported

_NO_REPLICAS = "a model store has no replicas or zones; use the local or kubernetes driver"
_NO_REGIONS = "a model store has no regions; region loss is the local driver's (up --regions 2)"


def kill_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "kill_replicas", _NO_REPLICAS)


def wait_for_replacement(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "wait_for_replacement", _NO_REPLICAS)


def freeze_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "freeze_replicas", _NO_REPLICAS)


def thaw_replicas(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "thaw_replicas", _NO_REPLICAS)


def restart_replicas(
    selector: str,
    count: int = 0,
    wait_ready: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "restart_replicas", _NO_REPLICAS)


def zone_down(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a store: a directory has no zones."""
    unsupported("model store", "zone_down", _NO_REPLICAS)


def zone_hang(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a store: a directory has no zones."""
    unsupported("model store", "zone_hang", _NO_REPLICAS)


def zone_up(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a store: a directory has no zones."""
    unsupported("model store", "zone_up", _NO_REPLICAS)


def wait_for_zone_return(
    zone: str, timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: a directory has no zones."""
    unsupported("model store", "wait_for_zone_return", _NO_REPLICAS)


def ready_capacity(
    selector: str, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "ready_capacity", _NO_REPLICAS)


def wait_for_capacity(
    selector: str,
    min_per_zone: int,
    timeout_s: float,
    min_total: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Any:
    """Not on a store: it has no replicas."""
    unsupported("model store", "wait_for_capacity", _NO_REPLICAS)


def check_refusal(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: only a replica can refuse a model."""
    unsupported("model store", "check_refusal", _NO_REPLICAS)


def region_down(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: a store has no regions (its replication target is another store)."""
    unsupported("model store", "region_down", _NO_REGIONS)


def region_up(
    role: str = "primary", configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on a store: a store has no regions."""
    unsupported("model store", "region_up", _NO_REGIONS)


def slow_replication(
    lag_s: float = 30.0,
    spread_s: float = 5.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Any:
    """Not on a store: the store driver does not own replication (the environment does)."""
    unsupported("model store", "slow_replication", _NO_REGIONS)


def restore_replication(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on a store: replication was never slowed through it."""
    unsupported("model store", "restore_replication", _NO_REGIONS)
