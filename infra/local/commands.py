"""The command lines and environment the controller gives its children, in one place so the
cold start and the warm pool run replicas with exactly the same settings."""

from __future__ import annotations

import os
from pathlib import Path

from infra.local import procs
from infra.local.config import ADMIN_TOKEN_ENV, MARKER_ENV, TOKEN_ENV, ControllerConfig


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
    """``serving.replica``'s arguments (without the interpreter) for one slot."""
    c = config
    args = [
        "--store", c.store, "--model", c.model, "--alias", "stable",
        "--host", "127.0.0.1", "--port", str(port), "--zone", zone,
        "--cache-dir", str(replica_cache_dir(c, workdir, replica_id)),
        "--replica-id", replica_id, "--drain-grace", str(c.drain_grace),
    ]  # fmt: skip
    if c.replica_poll_interval is not None:
        args += ["--poll-interval", str(c.replica_poll_interval)]
    return args


def router_argv(config: ControllerConfig) -> list[str]:
    c = config
    args = [
        "--host", "127.0.0.1", "--port", str(c.router_port), "--discovery", "local",
        "--control-url", f"http://127.0.0.1:{c.control_port}",
        "--store", c.store, "--model", c.model,
    ]  # fmt: skip
    for key, value in c.router_options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return procs.python_argv("serving.router", *args)
