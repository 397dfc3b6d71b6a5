"""``up --regions 2``: a primary region and its warm-standby DR region on one machine.

Layout under the top workdir ``D``::

    D/regions/primary/   one controller (its zones, replicas, router), as ``up`` makes it
    D/regions/dr/        a smaller one (``dr-a``, ``dr-b``…) reading the DR store
    D/dr-store/          the DR store (``--dr-store`` for another directory)
    D/logs/              the replicator's and the front door's logs
    D/regions.json       what ``status`` and ``down`` need; D/deployment.json as usual

The replicator copies the primary store into the DR store (existing objects at once, as S3
Batch Replication would, then new ones late and shuffled); the DR controller starts once
that first copy is whole, so its replicas find a stable version. The front door comes
last and is the description's ``endpoint``. Every one of these is a separate process in
its own session; ``down`` stops them all: the two top-level ones by the ``D`` marker in
their environment, each region by its own ``down``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from contracts.deployment import Deployment, ModelStoreRef
from contracts.regions import Region
from infra.local import procs
from infra.local.client import ControlClient, ControlError
from infra.local.config import (
    DEPLOYMENT_FILE,
    MARKER_ENV,
    TOKEN_ENV,
    ControllerConfig,
    write_private,
)
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

log = logging.getLogger("infra.local.regions")
REGIONS_FILE = "regions.json"
ROLES = {"primary": "local-primary", "dr": "local-dr"}  # role -> region name
DR_ZONE_PREFIX = "dr"
WINDOW_MARGIN_S = 5.0  # how much later than the configured lag a version counts as late


def region_dir(top: Path, role: str) -> Path:
    return top / "regions" / role


def regions_up(top: Path) -> bool:
    """Whether any process of a two-region environment in ``top`` is alive."""
    if not (top / REGIONS_FILE).is_file():
        return False
    return bool(_top_pids(top)) or any(controller_pid(region_dir(top, r)) for r in ROLES)


def _top_pids(top: Path) -> list[int]:
    return procs.pids_with_marker(f"{MARKER_ENV}={top}\0")


def _spawn(module: str, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return procs.spawn(procs.python_argv(module, *argv), log, env, tie_to_parent=False)


def _fail_if_exited(proc: subprocess.Popen, what: str, log: Path) -> None:
    if proc.poll() is not None:
        tail = log.read_text()[-400:].strip() if log.is_file() else ""
        raise CliError(f"{what} exited with {proc.returncode}: {tail}")


def _wait_synced(url: str, token: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until the replicator has copied every existing object and the stable alias with it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _fail_if_exited(proc, "the replicator", log)
        try:
            state = httpx.get(
                f"{url}/v1/state", headers={"Authorization": f"Bearer {token}"}, timeout=1
            ).json()
        except (httpx.HTTPError, ValueError):
            time.sleep(0.1)
            continue
        promotions = state["promotions"]
        if state["pending"] == 0 and promotions and all(p["replicated"] for p in promotions):
            return
        time.sleep(0.1)
    raise CliError(f"the DR store was not in sync within {timeout:.0f}s; see {log}")


def _wait_front_door(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _fail_if_exited(proc, "the front door", log)
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise CliError(f"the front door was not ready within {timeout:.0f}s; see {log}")


def _expected(config) -> int:
    return config.zones * config.replicas_per_zone + config.standby


def _description(
    args: argparse.Namespace, primary: dict, dr: dict, dr_store: str, urls: dict[str, str]
) -> dict[str, Any]:
    """The primary's description with the front door as ``endpoint`` and both regions."""
    window = args.replication_lag + args.replication_spread + WINDOW_MARGIN_S
    regions = tuple(
        Region(
            name=ROLES[role],
            role=role,
            endpoint=d["endpoint"],
            zones=tuple(d["zones"]),
            store_url=d["model_store"]["url"],
            replication_window_s=window,
            control_url=d["control"]["url"],
        )
        for role, d in (("primary", primary), ("dr", dr))
    )
    base = Deployment.from_json(primary)
    return replace(
        base,
        endpoint=urls["front_door"],
        regions=regions,
        model_store=ModelStoreRef(url=args.store, model=args.model, dr_url=dr_store),
        extras={**base.extras, **urls, "workdir": str(args.top)},
    ).to_json()


def up_regions(args: argparse.Namespace) -> int:
    top = Path(args.workdir).resolve()
    args.top = top
    if regions_up(top) or controller_pid(top):
        raise CliError(f"an environment is already up in {top}; run `down` first")
    if not args.store.startswith("file://"):
        raise CliError(f"--regions 2 needs a file:// --store (the replicator copies files), "
                       f"got {args.store!r}")  # fmt: skip
    dr_store = args.dr_store or f"file://{top / 'dr-store'}"
    if not dr_store.startswith("file://") or dr_store.rstrip("/") == args.store.rstrip("/"):
        raise CliError(f"--dr-store must be another file:// directory, got {dr_store!r}")
    if args.replication_lag < 0 or args.replication_spread < 0:
        raise CliError("--replication-lag and --replication-spread must be 0 or more")
    token = os.urandom(24).hex()
    try:
        configs = {
            "primary": config_from_args(args, region_dir(top, "primary"), token),
            "dr": config_from_args(
                args,
                region_dir(top, "dr"),
                token,
                store=dr_store,
                zones=args.dr_zones,
                replicas_per_zone=args.dr_replicas_per_zone,
                standby=args.dr_standby,
                zone_prefix=DR_ZONE_PREFIX,
            ),
        }
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    check_store_and_model(args.store, args.model)  # the primary's; the replicator fills the DR's
    top.mkdir(parents=True, exist_ok=True)
    (top / DEPLOYMENT_FILE).unlink(missing_ok=True)
    write_private(top / REGIONS_FILE, {"roles": ROLES, "token": token})
    env = {**os.environ, MARKER_ENV: str(top), TOKEN_ENV: token}
    urls = {
        "replicator": f"http://127.0.0.1:{procs.free_port()}",
        "front_door": f"http://127.0.0.1:{procs.free_port()}",
    }
    try:
        _bring_up(args, top, configs, env, urls, dr_store, token)
    except (CliError, KeyboardInterrupt):
        down_regions(top, quiet=True)
        raise
    description = read_deployment(top)
    console.print(f"[green]up[/green]: front door at {description['endpoint']}, "
                  f"description in {top / DEPLOYMENT_FILE}")  # fmt: skip
    shown = {"deployment": str(top / DEPLOYMENT_FILE), **description}
    shown["control"] = {**shown["control"], "token": "<redacted: see the deployment file>"}
    print(json.dumps(shown, indent=2))
    return 0


def _bring_up(args, top: Path, configs, env, urls, dr_store: str, token: str) -> None:
    logs = top / "logs"
    rep_log, door_log = logs / "replicator.log", logs / "front_door.log"
    replicator = _spawn(
        "infra.local.replicator",
        ["--source", args.store, "--target", dr_store, "--lag", str(args.replication_lag),
         "--spread", str(args.replication_spread), "--port", urls["replicator"].rsplit(":", 1)[1]],
        rep_log, env,
    )  # fmt: skip
    primary = spawn_controller(configs["primary"])
    _wait_synced(urls["replicator"], token, replicator, rep_log, args.timeout)
    dr = spawn_controller(configs["dr"])
    wait_ready(configs["primary"].path, primary, _expected(configs["primary"]), args.timeout)
    wait_ready(configs["dr"].path, dr, _expected(configs["dr"]), args.timeout)
    described = {role: read_deployment(c.path) for role, c in configs.items()}
    door = _spawn(
        "infra.local.front_door",
        ["--region", f"{ROLES['primary']}={described['primary']['endpoint']}",
         "--region", f"{ROLES['dr']}={described['dr']['endpoint']}",
         "--port", urls["front_door"].rsplit(":", 1)[1],
         "--interval", str(args.front_door_interval),
         "--threshold", str(args.front_door_threshold),
         "--retry-other-region", args.front_door_retry],
        door_log, env,
    )  # fmt: skip
    _wait_front_door(urls["front_door"], door, door_log, args.timeout)
    _join_control(configs["dr"].path, {"replicator": replicator, "front door": door})
    description = _description(args, described["primary"], described["dr"], dr_store, urls)
    write_private(top / DEPLOYMENT_FILE, description)


def _join_control(workdir: Path, members: dict[str, subprocess.Popen]) -> None:
    """The replicator (S3's replication) and the front door (Route 53) are the cloud's
    control plane, in neither region: they join the DR region's reserved ``control`` group
    (the region the drill never loses), or the regions' isolated groups, which outweigh
    the root, could starve them."""
    with ControlClient.from_workdir(workdir) as control:
        if not control.isolation().get("isolated"):
            return
        for what, proc in members.items():
            try:
                control.join("control", proc.pid)
            except ControlError as exc:
                log.warning("the %s runs outside the control group: %s", what, exc)


def down_regions(top: Path, quiet: bool = False) -> int:
    """Stop the front door and the replicator (TERM, then KILL), then each region."""
    was_up = regions_up(top)
    pids = _top_pids(top)
    for pid in pids:
        procs.signal_group(pid, signal.SIGTERM)
    for pid in procs.wait_gone(pids, timeout=5):
        procs.signal_group(pid, signal.SIGKILL)
    procs.wait_gone(pids, timeout=5)
    for role in ROLES:
        if region_dir(top, role).is_dir():
            down_region(region_dir(top, role), quiet=True)
    (top / REGIONS_FILE).unlink(missing_ok=True)
    if not quiet:
        console.print("[green]down[/green]" if was_up else f"nothing running in {top}")
    return 0


def _store_dir(top: Path, role: str) -> Path:
    store = json.loads((region_dir(top, role) / "controller.json").read_text())["store"]
    return Path(store.removeprefix("file://"))


def lose_region(top: Path, role: str = "primary") -> dict[str, Any]:
    """A region lost whole: SIGKILL every process of it (found by its marker) and move its
    store directory away. Returns the pids, when they were killed and where the store went;
    :func:`restore_region` undoes it."""
    if role not in ROLES:
        raise CliError(f"no region role {role!r}; roles are {', '.join(ROLES)}")
    victims = procs.pids_with_marker(f"{MARKER_ENV}={region_dir(top, role)}\0")
    killed_at = time.time()
    for pid in victims:
        procs.signal_group(pid, signal.SIGKILL)
    root = _store_dir(top, role)
    away = root.with_name(f".{root.name}.region-lost")
    if root.is_dir():
        os.rename(root, away)
    return {"region": ROLES[role], "killed": victims, "killed_at": killed_at, "store": str(away)}


def restore_region(top: Path, role: str = "primary", timeout: float = 120.0) -> dict[str, Any]:
    """Bring a lost region back: its store directory, then its controller on the same ports
    (the front door knows its router by address), until every replica is ready."""
    root = _store_dir(top, role)
    away = root.with_name(f".{root.name}.region-lost")
    if away.is_dir() and not root.exists():
        os.rename(away, root)
    sub = region_dir(top, role)
    if controller_pid(sub):
        return {"region": ROLES[role], "restarted": False}
    config = ControllerConfig.load(sub)
    proc = spawn_controller(config)
    wait_ready(sub, proc, _expected(config), timeout)
    return {"region": ROLES[role], "restarted": True, "pid": proc.pid}


def status_regions(top: Path) -> dict[str, Any]:
    """Both regions' replicas and routers, the front door's steering, the replication."""
    description = read_deployment(top)
    token = description["control"]["token"]
    view: dict[str, Any] = {"regions": {}}
    for role, name in ROLES.items():
        sub = region_dir(top, role)
        if not controller_pid(sub):
            view["regions"][name] = {"role": role, "controller": "down"}
            continue
        deployment = read_deployment(sub)
        view["regions"][name] = {
            "role": role,
            **control_get(deployment, "/v1/replicas"),
            "router": control_get(deployment, "/v1/router"),
        }
    for key, url, headers in (
        ("front_door", f"{description['front_door']}/v1/regions", {}),
        (
            "replication",
            f"{description['replicator']}/v1/state",
            {"Authorization": f"Bearer {token}"},
        ),
    ):
        try:
            view[key] = httpx.get(url, headers=headers, timeout=5).json()
        except (httpx.HTTPError, ValueError) as exc:
            view[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return view
