"""``python -m infra.local up|status|down`` — the local environment's command line."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from contracts.cluster_timings import LOCAL as LOCAL_TIMINGS
from infra.local import regions
from infra.local.config import DEPLOYMENT_FILE
from infra.local.lifecycle import (
    CliError,
    check_store_and_model,
    config_from_args,
    console,
    control_get,
    controller_pid,
    down_region,
    read_deployment,
    spawn_controller,
    wait_ready,
)


def cmd_up(args: argparse.Namespace) -> int:
    if args.regions == 2:
        return regions.up_regions(args)
    workdir = Path(args.workdir).resolve()
    if controller_pid(workdir) or regions.regions_up(workdir):
        raise CliError(f"an environment is already up in {workdir}; run `down` first")
    if "://" not in args.store:
        raise CliError(f"--store {args.store!r} has no scheme: use file:///path or s3://…")
    try:
        config = config_from_args(args, workdir, secrets.token_urlsafe(32))
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    check_store_and_model(args.store, args.model)  # before anything starts
    proc = spawn_controller(config)
    expected = args.zones * args.replicas_per_zone + args.standby
    try:
        wait_ready(workdir, proc, expected, args.timeout)
    except (CliError, KeyboardInterrupt):
        down_region(workdir, quiet=True)
        raise
    deployment = read_deployment(workdir)
    console.print(f"[green]up[/green]: router at {deployment['endpoint']}, "
                  f"description in {workdir / DEPLOYMENT_FILE}")  # fmt: skip
    shown = {"deployment": str(workdir / DEPLOYMENT_FILE), **deployment}
    if "control" in shown:  # the token stays in the 0600 file, never in CI logs
        shown["control"] = {**shown["control"], "token": "<redacted: see the deployment file>"}
    print(json.dumps(shown, indent=2))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if regions.regions_up(workdir):
        return _status_regions(workdir, args.json)
    if not controller_pid(workdir):
        raise CliError(f"no controller is running for {workdir}")
    deployment = read_deployment(workdir)
    view = control_get(deployment, "/v1/replicas")
    view["router"] = control_get(deployment, "/v1/router")
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


def _status_regions(workdir: Path, as_json: bool) -> int:
    view = regions.status_regions(workdir)
    if as_json:
        print(json.dumps(view, indent=2))
        return 0
    out = Console()
    for name, region in view["regions"].items():
        if "replicas" not in region:
            out.print(f"region {name} ({region['role']}): controller down")
            continue
        table = Table(title=f"region {name} ({region['role']})")
        columns = ("id", "zone", "role", "pid", "port", "state", "restarts")
        for col in columns:
            table.add_column(col)
        for r in region["replicas"]:
            table.add_row(*(str(r[c]) for c in columns))
        out.print(table)
        out.print(f"router: {region['router']['url']} pid {region['router']['pid']}")
    door, rep = view["front_door"], view["replication"]
    out.print(f"front door: serving {door.get('serving')}, failovers {door.get('failovers')}")
    out.print(f"replication: pending {rep.get('pending')}, behind {rep.get('behind_s')} s")
    return 0


def cmd_region(args: argparse.Namespace) -> int:
    """``region-down``/``region-up``: lose a region whole, or bring it back (the drill's
    fault and its rollback; the front door fails over and back by itself)."""
    workdir = Path(args.workdir).resolve()
    if not (workdir / regions.REGIONS_FILE).is_file():
        raise CliError(f"{workdir} holds no two-region environment (up --regions 2)")
    if args.command == "region-down":
        result = regions.lose_region(workdir, args.role)
    else:
        result = regions.restore_region(workdir, args.role, args.timeout)
    print(json.dumps(result))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    if (workdir / regions.REGIONS_FILE).is_file():
        return regions.down_regions(workdir)
    return down_region(workdir)


def cmd_serve(args: argparse.Namespace) -> int:
    from infra.local.daemon import serve

    return serve(Path(args.workdir).resolve())


def _region_flags(up: argparse.ArgumentParser) -> None:
    """``--regions 2``: a DR region, the replicator and the front door (infra/local/regions.py)."""
    up.add_argument(
        "--regions",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: a primary and a smaller warm-standby DR region behind a front door",
    )
    up.add_argument("--dr-store", help="the DR store, file:///… (default: WORKDIR/dr-store)")
    up.add_argument("--dr-zones", type=int, default=2)
    up.add_argument("--dr-replicas-per-zone", type=int, default=1)
    up.add_argument("--dr-standby", type=int, default=0)
    up.add_argument(
        "--replication-lag",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds before a new object is copied to the DR store",
    )
    up.add_argument(
        "--replication-spread",
        type=float,
        default=1.0,
        metavar="S",
        help="plus up to this many seconds at random, so objects land out of order",
    )
    up.add_argument(
        "--front-door-interval",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds between the front door's health checks of each region",
    )
    up.add_argument(
        "--front-door-threshold",
        type=int,
        default=3,
        metavar="N",
        help="consecutive checks that flip a region's health (Route 53's default)",
    )
    up.add_argument("--front-door-retry", choices=("on", "off"), default="on",
                    help="send a request its region failed on to the next region")  # fmt: skip


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
    up.add_argument(
        "--reschedule-delay",
        type=float,
        default=LOCAL_TIMINGS.reschedule_other_node_s,
        help="seconds before a lost zone's replicas start elsewhere: the cluster's scheduling, "
        "image pull and model fetch on the RTO's scale (default %(default)s)",
    )
    up.add_argument(
        "--restart-delay",
        type=float,
        default=LOCAL_TIMINGS.restart_same_node_s,
        help="seconds before a deleted or killed replica starts again (a pod replaced on its "
        "node: container start and model fetch, scaled; default %(default)s)",
    )
    up.add_argument(
        "--eviction-delay",
        type=float,
        default=LOCAL_TIMINGS.node_lost_eviction_s,
        help="seconds a hung zone's replicas stay where they are before they are evicted and "
        "rescheduled (Kubernetes' 40 s + 300 s for an unreachable node, scaled; "
        "default %(default)s)",
    )
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
    up.add_argument(
        "--router-probe-interval",
        type=float,
        metavar="S",
        help="router --probe-interval: seconds between its active health checks (default 0.2)",
    )
    _region_flags(up)
    up.set_defaults(func=cmd_up)
    for name, func in (("status", cmd_status), ("down", cmd_down), ("serve", cmd_serve)):
        cmd = sub.add_parser(name)
        cmd.add_argument("--workdir", required=True)
        if name == "status":
            cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(func=func)
    for name in ("region-down", "region-up"):
        cmd = sub.add_parser(name, help="lose a region whole / bring it back (--regions 2)")
        cmd.add_argument("--workdir", required=True)
        cmd.add_argument("--role", choices=tuple(regions.ROLES), default="primary")
        cmd.add_argument("--timeout", type=float, default=120.0, help="region-up: readiness")
        cmd.set_defaults(func=cmd_region)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        console.print("interrupted", markup=False, highlight=False)
        return 130
    except (httpx.HTTPError, OSError) as exc:
        console.print(
            f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False, soft_wrap=True
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
