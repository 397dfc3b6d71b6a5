"""The controller's settings, saved as ``D/controller.json`` so ``up`` and the daemon agree."""

from __future__ import annotations

import json
import os
import re
import string
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.cluster_timings import LOCAL as LOCAL_TIMINGS
from contracts.deployment import Control, Deployment, ModelStoreRef, Selectors, Slo

DEPLOYMENT_FILE = "deployment.json"
CONFIG_FILE = "controller.json"
PID_FILE = "controller.pid"
MARKER_ENV = "RECDRILL_DEPLOYMENT"
TOKEN_ENV = "RECDRILL_CONTROL_TOKEN"
ADMIN_TOKEN_ENV = "RECDRILL_ADMIN_TOKEN"


def zone_names(count: int, prefix: str = "local") -> list[str]:
    """``local-a``, ``local-b``… (then ``local-aa``… past 26, which nobody needs); a DR
    region's zones get their own prefix, as AZ names differ between AWS regions."""
    letters = string.ascii_lowercase
    return [
        f"{prefix}-{letters[i]}" if i < 26 else f"{prefix}-{letters[i // 26 - 1]}{letters[i % 26]}"
        for i in range(count)
    ]


@dataclass
class ControllerConfig:
    """Everything the controller daemon needs; also the record of the router options used."""

    workdir: str
    store: str
    model: str
    token: str
    zones: int = 3
    replicas_per_zone: int = 2
    standby: int = 1
    # Stand-ins for the cluster's replacement times, on the RTO's scale (contracts.cluster_timings).
    reschedule_delay: float = LOCAL_TIMINGS.reschedule_other_node_s
    restart_delay: float = LOCAL_TIMINGS.restart_same_node_s
    eviction_delay: float = LOCAL_TIMINGS.node_lost_eviction_s
    health_interval: float = 0.25
    drain_grace: float = 2.0
    stop_grace: float = 5.0
    backoff_base: float = 0.5
    backoff_max: float = 15.0
    backoff_reset: float = 10.0
    replica_poll_interval: float | None = None
    replica_cache_dir: str | None = None
    startup_nice: int = 0
    warm_pool: int | None = None
    control_port: int = 0
    router_port: int = 0
    router_options: dict[str, Any] = field(default_factory=dict)
    zone_prefix: str = "local"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", self.zone_prefix):
            raise ValueError(
                f"zone prefix must be short lowercase letters, got {self.zone_prefix!r}"
            )
        if self.zones < 1:
            raise ValueError(f"--zones must be at least 1, got {self.zones}")
        if self.replicas_per_zone < 1:
            n = self.replicas_per_zone
            raise ValueError(f"--replicas-per-zone must be at least 1, got {n}")
        if self.standby < 0:
            raise ValueError(f"--standby must be 0 or more, got {self.standby}")
        if self.reschedule_delay < 0:
            raise ValueError(f"--reschedule-delay must be 0 or more, got {self.reschedule_delay}")
        if self.restart_delay < 0:
            raise ValueError(f"--restart-delay must be 0 or more, got {self.restart_delay}")
        if self.eviction_delay < 0:
            raise ValueError(f"--eviction-delay must be 0 or more, got {self.eviction_delay}")
        if self.warm_pool is not None and self.warm_pool < 0:
            raise ValueError(f"--warm-pool must be 0 or more, got {self.warm_pool}")
        if self.replica_poll_interval is not None and self.replica_poll_interval < 0.05:
            n = self.replica_poll_interval
            raise ValueError(f"--model-poll-interval must be at least 0.05 s, got {n}")
        if not 0 <= self.startup_nice <= 19:
            raise ValueError(f"--startup-nice must be 0..19, got {self.startup_nice}")

    @property
    def path(self) -> Path:
        return Path(self.workdir)

    @property
    def zone_list(self) -> list[str]:
        return zone_names(self.zones, self.zone_prefix)

    @property
    def warm_pool_size(self) -> int:
        """``--warm-pool``, by default enough warm processes to replace the largest zone's
        replicas (actives plus the standby placed there) at once."""
        if self.warm_pool is not None:
            return self.warm_pool
        standby_in_busiest = -(-self.standby // self.zones)
        return self.replicas_per_zone + standby_in_busiest

    def save(self) -> None:
        write_private(self.path / CONFIG_FILE, asdict(self))

    @classmethod
    def load(cls, workdir: Path) -> ControllerConfig:
        return cls(**json.loads((workdir / CONFIG_FILE).read_text()))

    def deployment(self) -> dict[str, Any]:
        """The deployment description (``contracts.deployment``), as ``deployment.json``."""
        return Deployment(
            environment="local",
            platform="local",
            endpoint=f"http://127.0.0.1:{self.router_port}",
            zones=tuple(self.zone_list),
            selectors=Selectors(
                active="app=recdrill-replica,role=active",
                standby="app=recdrill-replica,role=standby",
                router="app=recdrill-router",
            ),
            replicas_per_zone=self.replicas_per_zone,
            standby_replicas=self.standby,
            model_store=ModelStoreRef(url=self.store, model=self.model),
            slo=Slo.for_platform("local"),
            control=Control(url=f"http://127.0.0.1:{self.control_port}", token=self.token),
            extras={
                "router_options": dict(self.router_options),
                "workdir": str(self.path.resolve()),
            },
        ).to_json()


def write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by the owner only (it holds the control token)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
