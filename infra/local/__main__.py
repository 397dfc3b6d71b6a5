"""``python -m infra.local up|status|down`` — the local environment's command line."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.local import procs
from infra.local.client import ControlClient, ControlError
from infra.local.config import (
    DEPLOYMENT_FILE,
    MARKER_ENV,
    PID_FILE,
    ControllerConfig,
)

console = Console(stderr=True)


class CliError(Exception):
    """A one-line message for the user; exit code 1."""


def _controller_pid(workdir: Path) -> int | None:
    try:
        pid = int((workdir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if procs.alive(pid) else None


def _deployment(workdir: Path) -> dict[str, Any]:
    path = workdir / DEPLOYMENT_FILE
    if not path.is_file():
        raise CliError(f"{path} does not exist: is the environment up?")
    return json.loads(path.read_text())


def _api(deployment: dict[str, Any], path: str) -> dict[str, Any]:
    with ControlClient.from_deployment(deployment, timeout=5) as control:
        try:
            return control.call("GET", path)
        except ControlError as exc:
            raise CliError(str(exc)) from exc


def cmd_up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if _controller_pid(workdir):
        raise CliError(f"an environment is already up in {workdir}; run `down` first")
    if "://" not in args.store:
        raise CliError(f"--store {args.store!r} has no scheme: use file:///path or s3://…")
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
        }.items()
        if value is not None
    }
    try:
        config = ControllerConfig(
            workdir=str(workdir),
            store=args.store,
            model=args.model,
            token=secrets.token_urlsafe(32),
            zones=args.zones,
            replicas_per_zone=args.replicas_per_zone,
            standby=args.standby,
            reschedule_delay=args.reschedule_delay,
            drain_grace=args.drain_grace,
            startup_nice=args.startup_nice,
            warm_pool=args.warm_pool,
            replica_cache_dir=args.replica_cache_dir
            and str(Path(args.replica_cache_dir).resolve()),
            replica_poll_interval=args.model_poll_interval,
            router_options=router_options,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / DEPLOYMENT_FILE).unlink(missing_ok=True)
    config.save()
    env = {**os.environ, MARKER_ENV: str(workdir)}
    proc = procs.spawn(
        procs.python_argv("infra.local", "serve", "--workdir", str(workdir)),
        workdir / "logs" / "controller.log",
        env,
        tie_to_parent=False,
    )
    expected = args.zones * args.replicas_per_zone + args.standby
    try:
        _wait_ready(workdir, proc, expected, args.timeout)
    except (CliError, KeyboardInterrupt):
        _down(workdir, quiet=True)
        raise
    deployment = _deployment(workdir)
    console.print(f"[green]up[/green]: router at {deployment['endpoint']}, "
                  f"description in {workdir / DEPLOYMENT_FILE}")  # fmt: skip
    shown = {"deployment": str(workdir / DEPLOYMENT_FILE), **deployment}
    if "control" in shown:  # the token stays in the 0600 file, never in CI logs
        shown["control"] = {**shown["control"], "token": "<redacted: see the deployment file>"}
    print(json.dumps(shown, indent=2))
    return 0


def _wait_ready(workdir: Path, proc, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("starting controller", total=expected + 1)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (workdir / "logs" / "controller.log").read_text()[-2000:]
                raise CliError(f"controller exited with {proc.returncode}: {tail.strip()[-400:]}")
            try:
                deployment = _deployment(workdir)
                view = _api(deployment, "/v1/replicas")
                router = httpx.get(deployment["endpoint"] + "/v1/upstreams", timeout=1).json()
            except (CliError, httpx.HTTPError, ValueError):
                time.sleep(0.2)
                continue
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


def cmd_status(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if not _controller_pid(workdir):
        raise CliError(f"no controller is running for {workdir}")
    deployment = _deployment(workdir)
    view = _api(deployment, "/v1/replicas")
    view["router"] = _api(deployment, "/v1/router")
    if args.json:
        print(json.dumps(view, indent=2))
        return 0
    table = Table(title=f"recdrill local environment ({workdir})")
    columns = ("id", "zone", "role", "pid", "port", "state", "restarts")
    for col in columns:
        table.add_column(col)
    for r in view["replicas"]:
        table.add_row(*(str(r[c]) for c in columns))
    Console().print(table)
    Console().print("zones: " + ", ".join(f"{z}={s}" for z, s in view["zones"].items()))
    Console().print(f"router: {deployment['endpoint']} pid {view['router']['pid']}")
    return 0


def _down(workdir: Path, quiet: bool = False) -> int:
    pid = _controller_pid(workdir)
    if pid is not None:
        procs.signal_group(pid, signal.SIGTERM)
        left = procs.wait_gone([pid], timeout=20)
        if left:
            procs.signal_group(pid, signal.SIGKILL)
            procs.wait_gone([pid], timeout=5)
    strays = procs.pids_with_marker(f"{MARKER_ENV}={workdir}\0")
    for stray in strays:
        procs.signal_group(stray, signal.SIGKILL)
    procs.wait_gone(strays, timeout=5)
    (workdir / PID_FILE).unlink(missing_ok=True)
    if not quiet:
        console.print("[green]down[/green]" if pid else f"nothing running in {workdir}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    return _down(Path(args.workdir).resolve())


def cmd_serve(args: argparse.Namespace) -> int:
    from infra.local.daemon import serve

    return serve(Path(args.workdir).resolve())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the controller, replicas and router; wait until ready")
    up.add_argument("--workdir", required=True)
    up.add_argument("--store", required=True, help="model store URL (file:///… or s3://…)")
    up.add_argument("--model", default="recommender")
    up.add_argument("--zones", type=int, default=3)
    up.add_argument("--replicas-per-zone", type=int, default=2)
    up.add_argument("--standby", type=int, default=1)
    up.add_argument("--reschedule-delay", type=float, default=2.0)
    up.add_argument("--drain-grace", type=float, default=2.0)
    up.add_argument(
        "--startup-nice",
        type=int,
        choices=range(20),
        default=0,
        metavar="0..19",
        help="CPU nice of replacement replicas until ready (0: off)",
    )
    up.add_argument(
        "--warm-pool",
        type=int,
        metavar="N",
        help="replica processes kept warm (imported, lowest CPU priority) for replacements; "
        "default: the largest zone's replica count; 0: every replacement starts cold",
    )
    up.add_argument(
        "--replica-cache-dir",
        metavar="DIR",
        help="replicas' verified-copy caches live in DIR/<replica id> (default: WORKDIR/cache)",
    )
    up.add_argument(
        "--model-poll-interval",
        "--replica-poll-interval",
        dest="model_poll_interval",
        type=float,
        metavar="S",
        help="replica --poll-interval: how often replicas check the stable alias (default 5)",
    )
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    up.add_argument("--router-retries", type=int, help="router --retries (0 turns retries off)")
    up.add_argument(
        "--router-try-timeout",
        type=float,
        default=0.1,
        help="router --try-timeout in seconds; the default fits a retry inside the 250 ms p99 SLO",
    )
    up.add_argument("--router-deadline", type=float)
    up.add_argument("--router-standby-threshold", type=float)
    up.add_argument("--router-fallback", choices=("on", "off"), help="popular-items fallback")
    up.add_argument("--router-ejection", choices=("on", "off"), help="passive ejection")
    up.add_argument("--router-hedge-after", type=float, help="router --hedge-after (seconds)")
    up.set_defaults(func=cmd_up)
    for name, func in (("status", cmd_status), ("down", cmd_down), ("serve", cmd_serve)):
        cmd = sub.add_parser(name)
        cmd.add_argument("--workdir", required=True)
        if name == "status":
            cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted", markup=False, highlight=False)
        return 130
    except (httpx.HTTPError, OSError) as exc:
        console.print(f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
