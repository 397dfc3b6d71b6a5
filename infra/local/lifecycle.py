"""Starting, waiting for and stopping one region's controller: shared by ``up``/``down``
and by the two-region environment (:mod:`infra.local.regions`)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from infra.local import procs
from infra.local.client import ControlClient, ControlError
from infra.local.config import DEPLOYMENT_FILE, MARKER_ENV, PID_FILE, ControllerConfig
from infra.local.isolation import remove_groups, thaw_all
from model.store import STABLE, AliasNotFound, ModelNotFound, StoreError, open_store

console = Console(stderr=True)
# ``up`` gives up when every replica has exited this often, none is ready, and all of their
# logs end on the same error: each would only go on crash-looping until the timeout.
CRASH_LOOP_EXITS = 2
_LOG_TAIL_BYTES = 16_384


class CliError(Exception):
    """A one-line message for the user; exit code 1."""


def controller_pid(workdir: Path) -> int | None:
    try:
        pid = int((workdir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if procs.alive(pid) else None


def read_deployment(workdir: Path) -> dict[str, Any]:
    path = workdir / DEPLOYMENT_FILE
    if not path.is_file():
        raise CliError(f"{path} does not exist: is the environment up?")
    return json.loads(path.read_text())


def control_get(deployment: dict[str, Any], path: str) -> dict[str, Any]:
    with ControlClient.from_deployment(deployment, timeout=5) as control:
        try:
            return control.call("GET", path)
        except ControlError as exc:
            raise CliError(str(exc)) from exc


def config_from_args(
    args: argparse.Namespace, workdir: Path, token: str, **overrides: Any
) -> ControllerConfig:
    """One region's controller settings from ``up``'s flags; ValueError names a bad one."""
    router_options = {
        key: value
        for key, value in {
            "retries": args.router_retries,
            "try_timeout": args.router_try_timeout,
            "deadline": args.router_deadline,
            "standby_threshold": args.router_standby_threshold,
            "fallback": args.router_fallback,
            "ejection": args.router_ejection,
            "hedge_after": args.router_hedge_after,
            "probe_interval": args.router_probe_interval,
        }.items()
        if value is not None
    }
    settings: dict[str, Any] = {
        "workdir": str(workdir),
        "store": args.store,
        "model": args.model,
        "token": token,
        "zones": args.zones,
        "replicas_per_zone": args.replicas_per_zone,
        "standby": args.standby,
        "reschedule_delay": args.reschedule_delay,
        "restart_delay": args.restart_delay,
        "eviction_delay": args.eviction_delay,
        "drain_grace": args.drain_grace,
        "startup_nice": args.startup_nice,
        "warm_pool": args.warm_pool,
        "replica_cache_dir": args.replica_cache_dir and str(Path(args.replica_cache_dir).resolve()),
        "replica_poll_interval": args.model_poll_interval,
        "router_options": router_options,
    }
    return ControllerConfig(**{**settings, **overrides})


def check_store_and_model(url: str, model: str) -> None:
    """Before anything starts: the store opens and can be listed, and the model's stable
    alias names a version. Otherwise every replica would crash-loop or wait unready until
    ``up``'s timeout, the reason only in their logs; CliError names what is wrong."""
    try:
        store = open_store(url)
        store.check_reachable()
    except StoreError as exc:
        raise CliError(f"--store: {exc}") from exc
    try:
        store.resolve(model, STABLE)
    except ModelNotFound as exc:
        raise CliError(
            f"{exc}; publish one with "
            f"`python -m training train --store {url} --model {model} --promote`"
        ) from exc
    except AliasNotFound as exc:
        raise CliError(
            f"{exc}; promote a version with "
            f"`python -m training promote --store {url} --model {model} --version VERSION`"
        ) from exc
    except StoreError as exc:
        raise CliError(f"--model {model}: {exc}") from exc


def last_error(log_path: Path) -> str | None:
    """The last error a process wrote to its log: a JSON log line at level error or worse
    (its message), else the last plain line that says error (argparse, a traceback's last
    line); None when the log holds neither."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict):
                if str(entry.get("level", "")).lower() in ("error", "critical"):
                    return str(entry.get("msg", line))[:400]
                continue
        if re.search(r"error|exception", line, re.IGNORECASE):
            return line[:400]
    return None


def crash_loop(workdir: Path, replicas: list[dict[str, Any]]) -> str | None:
    """One line when every replica keeps exiting with the same error (numbers such as
    ports aside) and none is ready; None while any might still come up."""
    if not replicas or any(
        r["state"] == "ready" or r["restarts"] < CRASH_LOOP_EXITS for r in replicas
    ):
        return None
    errors = [last_error(workdir / "logs" / f"{r['id']}.log") for r in replicas]
    if None in errors or len({re.sub(r"\d+", "N", str(e)) for e in errors}) != 1:
        return None
    exits = min(r["restarts"] for r in replicas)
    codes = {_last_exit_code(workdir, r["id"]) for r in replicas}
    code = f"with code {codes.pop()}, " if len(codes) == 1 and None not in codes else ""
    return (
        f"every replica keeps exiting ({code}{exits} times or more each): {errors[0]}; "
        f"see {workdir}/logs"
    )


def _last_exit_code(workdir: Path, replica_id: str) -> str | None:
    """The exit code the controller last logged for a replica (``… exited with 2; …``)."""
    try:
        text = (workdir / "logs" / "controller.log").read_text(errors="replace")
    except OSError:
        return None
    codes = re.findall(rf"\b{re.escape(replica_id)} exited with (-?\w+);", text[-_LOG_TAIL_BYTES:])
    return codes[-1] if codes else None


def spawn_controller(config: ControllerConfig) -> subprocess.Popen:
    """Save the config and start ``serve`` for it in its own session (it outlives ``up``)."""
    workdir = config.path
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / DEPLOYMENT_FILE).unlink(missing_ok=True)
    config.save()
    env = {**os.environ, MARKER_ENV: str(workdir)}
    return procs.spawn(
        procs.python_argv("infra.local", "serve", "--workdir", str(workdir)),
        workdir / "logs" / "controller.log",
        env,
        tie_to_parent=False,
    )


def wait_ready(workdir: Path, proc, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    # Only on a terminal: elsewhere (CI, tests) the bar would leave a blank line on stderr.
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task("starting controller", total=expected + 1)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (workdir / "logs" / "controller.log").read_text()[-2000:]
                raise CliError(f"controller exited with {proc.returncode}: {tail.strip()[-400:]}")
            try:
                deployment = read_deployment(workdir)
                view = control_get(deployment, "/v1/replicas")
                router = httpx.get(deployment["endpoint"] + "/v1/upstreams", timeout=1).json()
            except (CliError, httpx.HTTPError, ValueError):
                time.sleep(0.2)
                continue
            if crashing := crash_loop(workdir, view["replicas"]):
                raise CliError(crashing)
            ready = sum(1 for r in view["replicas"] if r["state"] == "ready")
            seen = sum(c["available"] for c in router["counts"].values())
            router_ready = seen == expected
            progress.update(
                task,
                completed=ready + router_ready,
                description=f"replicas ready {ready}/{expected}, router "
                + ("ready" if router_ready else "starting"),
            )
            if ready == expected and router_ready:
                return
            time.sleep(0.2)
    raise CliError(f"the environment was not ready within {timeout:.0f}s; see {workdir}/logs")


def down_region(workdir: Path, quiet: bool = False) -> int:
    pid = controller_pid(workdir)
    if pid is not None:
        procs.signal_group(pid, signal.SIGTERM)
        left = procs.wait_gone([pid], timeout=20)
        if left:
            procs.signal_group(pid, signal.SIGKILL)
            procs.wait_gone([pid], timeout=5)
    thaw_all(workdir)  # a replica frozen by a zone hang dies only once thawed
    strays = procs.pids_with_marker(f"{MARKER_ENV}={workdir}\0")
    for stray in strays:
        procs.signal_group(stray, signal.SIGKILL)
    procs.wait_gone(strays, timeout=5)
    remove_groups(workdir)  # what a SIGKILLed controller could not remove itself
    (workdir / PID_FILE).unlink(missing_ok=True)
    if not quiet:
        console.print("[green]down[/green]" if pid else f"nothing running in {workdir}")
    return 0
