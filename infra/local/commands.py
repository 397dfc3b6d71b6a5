"""The command lines and environment the controller gives its children, in one place so the
cold start and the warm pool run replicas with exactly the same settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from infra.local.config import ADMIN_TOKEN_ENV, MARKER_ENV, TOKEN_ENV, ControllerConfig
from serving.replica.settings import ReplicaSettings
from serving.router.cli import router_argv


def child_env(config: ControllerConfig, workdir: Path) -> dict[str, str]:
    """The controller's environment plus the marker ``down`` finds strays by and the tokens."""
    env = dict(os.environ)
    env[MARKER_ENV] = str(workdir)
    env[TOKEN_ENV] = config.token
    env[ADMIN_TOKEN_ENV] = config.token
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def replica_cache_dir(config: ControllerConfig, workdir: Path, replica_id: str) -> Path:
    """``<--replica-cache-dir or D/cache>/<replica id>``: a slot keeps its cache when it moves."""
    base = Path(config.replica_cache_dir) if config.replica_cache_dir else workdir / "cache"
    return base / replica_id


def replica_args(
    config: ControllerConfig, workdir: Path, replica_id: str, zone: str, port: int
) -> list[str]:
    """``serving.replica``'s arguments (without the interpreter) for one slot, built by
    :meth:`ReplicaSettings.argv`, the one builder the pod spec uses too."""
    c = config
    poll = c.replica_poll_interval
    settings = ReplicaSettings(
        store=c.store,
        model=c.model,
        cache_dir=replica_cache_dir(c, workdir, replica_id),
        port=port,
        zone=zone,
        replica_id=replica_id,
        drain_grace_s=c.drain_grace,
        **({} if poll is None else {"poll_interval_s": poll}),
    )
    return settings.argv(sys.executable)[3:]


def router_command(config: ControllerConfig) -> list[str]:
    """The router's command line, built by :func:`serving.router.cli.router_argv`."""
    c = config
    return router_argv(
        sys.executable,
        host="127.0.0.1",
        port=c.router_port,
        discovery="local",
        control_url=f"http://127.0.0.1:{c.control_port}",
        store=c.store,
        model=c.model,
        expected_active=c.zones * c.replicas_per_zone,
        **c.router_options,
    )
