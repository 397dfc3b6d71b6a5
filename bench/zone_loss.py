"""``python -m bench.zone_loss [--json]``: zone loss under load, and router overhead.

Brings a real local environment up (3 zones × 2 + 1 standby), then
1. throughput: closed-loop load through the router vs straight at the active replicas;
2. zone loss: open-loop load (latency from each request's intended send time) at
   ``--rps``, by default ``--load-fraction`` of the router throughput just measured
   (DESIGN.md contract 4: representative load, not a fixed rate that may overload a busy
   machine or trickle on a fast one),
   one zone downed at ``--fault-at`` s; reports failed requests, degraded ratio, p99, the
   time until the router stops using the zone (detection) and the time until active
   capacity is back in the surviving zones.
Not a test: it prints figures next to their targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from experiments.probes.load import RequestResult, closed_loop, open_loop, summarise
from infra.local.client import ControlClient

TARGETS = {
    "failed": 0,
    "degraded_ratio": 0.01,
    "p99_ms": 100.0,
    "detection_s": 1.0,
    "capacity_back_s": 15.0,
    "throughput_ratio": 0.7,
}


def _cli(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.local", *args], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"error: infra.local {args[0]} failed: {result.stderr.strip()[-500:]}")


def _tiny_store(root: Path) -> str:
    from bench.fixtures import publish_tiny_model
    from model.store import open_store

    url = f"file://{root}"
    publish_tiny_model(open_store(url), "recommender", seed=0)
    return url


def _router_view(endpoint: str) -> dict[str, Any] | None:
    """The router's upstream view, or None when it did not answer in time (a busy box)."""
    try:
        return httpx.get(f"{endpoint}/v1/upstreams", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None


async def _watch_zone(
    endpoint: str, control: ControlClient, zone: str, actives: int, fault_at: list[float]
) -> dict[str, float | None]:
    """After the fault: when the router stopped using ``zone``, when capacity was back."""
    while not fault_at:
        await asyncio.sleep(0.01)
    t0 = fault_at[0]
    detected = back = None
    while time.monotonic() - t0 < 60 and back is None:
        view = await asyncio.to_thread(_router_view, endpoint)
        if view is None:
            continue
        now = time.monotonic() - t0
        in_zone = [u for u in view["upstreams"] if u["zone"] == zone and u["state"] == "healthy"]
        if detected is None and not in_zone:
            detected = now
        replicas = await asyncio.to_thread(control.replicas, "role=active")
        ready = [r for r in replicas if r["state"] == "ready" and r["zone"] != zone]
        if (
            detected is not None
            and len(ready) == actives
            and view["counts"]["active"]["available"] >= actives
        ):
            back = time.monotonic() - t0
        await asyncio.sleep(0.05)
    return {"detection_s": detected, "capacity_back_s": back}


def _summary(results: list[RequestResult]) -> dict[str, Any]:
    """The load summary with ``failed``: requests neither answered nor shed."""
    summary = summarise(results)
    return {"failed": summary["errors"], **summary}


async def _zone_loss(
    endpoint: str, control: ControlClient, args: argparse.Namespace, rps: float
) -> dict[str, Any]:
    fault_at: list[float] = []
    fault_epoch: list[float] = []
    actives = len(control.replicas("role=active"))

    async def fault() -> None:
        await asyncio.sleep(args.fault_at)
        fault_at.append(time.monotonic())
        fault_epoch.append(time.time())
        await asyncio.to_thread(control.zone_down, args.zone)

    load = asyncio.create_task(open_loop(endpoint, rps, args.duration, timeout_s=5.0))
    watch = asyncio.create_task(_watch_zone(endpoint, control, args.zone, actives, fault_at))
    await fault()
    results = await load
    timings = await watch
    before = [r for r in results if r.scheduled < fault_epoch[0]]
    after = [r for r in results if r.scheduled >= fault_epoch[0]]
    return {
        **_summary(results),
        **timings,
        "rps": round(rps, 1),
        "zone": args.zone,
        "before_fault": _summary(before),
        "after_fault": _summary(after),
    }


async def _throughput(endpoint: str, direct: list[str], seconds: float) -> dict[str, Any]:
    """Alternate short rounds through the router and straight at the replicas, so that
    other load on the machine hits both sides alike."""
    rounds = 4
    via_router: list[RequestResult] = []
    straight: list[RequestResult] = []
    for _ in range(rounds):
        via_router += await closed_loop(endpoint, seconds / rounds, 16)
        straight += await closed_loop(direct, seconds / rounds, 16)
    router, direct_summary = _summary(via_router), _summary(straight)
    r_rps = router["requests"] / seconds
    d_rps = direct_summary["requests"] / seconds
    return {
        "router_rps": round(r_rps, 1),
        "direct_rps": round(d_rps, 1),
        "throughput_ratio": round(r_rps / d_rps, 3) if d_rps else None,
        "router_failed": router["failed"],
        "direct_failed": direct_summary["failed"],
        "router_p99_ms": router["p99_ms"],
        "direct_p99_ms": direct_summary["p99_ms"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recdrill-bench-") as tmp:
        root = Path(tmp)
        store = args.store or _tiny_store(root / "store")
        workdir = root / "env"
        _cli(
            "up", "--workdir", str(workdir), "--store", store, "--model", args.model,
            "--startup-nice", str(args.startup_nice),
        )  # fmt: skip
        try:
            control = ControlClient.from_workdir(workdir)
            endpoint = json.loads((workdir / "deployment.json").read_text())["endpoint"]
            asyncio.run(closed_loop(endpoint, 2.0, 16))  # warm-up
            direct = [r["url"] for r in control.replicas("role=active")]
            throughput = asyncio.run(_throughput(endpoint, direct, args.throughput_seconds))
            rps = args.rps or args.load_fraction * throughput["router_rps"]
            if rps <= 0:
                raise SystemExit("error: the router answered nothing in the throughput phase")
            zone_loss = asyncio.run(_zone_loss(endpoint, control, args, rps))
            control.close()
        finally:
            _cli("down", "--workdir", str(workdir))
    results = {
        "model": args.store or "tiny factory model (bench.fixtures: 40 users, 120 items)",
        "zone_loss": zone_loss,
        "throughput": throughput,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    results["targets"] = TARGETS
    results["met"] = {
        "failed": zone_loss["failed"] <= TARGETS["failed"],
        "degraded_ratio": zone_loss["degraded_ratio"] <= TARGETS["degraded_ratio"],
        "p99_ms": (zone_loss["p99_ms"] or 1e9) <= TARGETS["p99_ms"],
        "detection_s": (zone_loss["detection_s"] or 1e9) <= TARGETS["detection_s"],
        "capacity_back_s": (zone_loss["capacity_back_s"] or 1e9) <= TARGETS["capacity_back_s"],
        "throughput_ratio": (throughput["throughput_ratio"] or 0) >= TARGETS["throughput_ratio"],
    }
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.zone_loss", description=__doc__)
    p.add_argument("--store", help="model store URL (default: a temporary tiny model)")
    p.add_argument("--model", default="recommender")
    p.add_argument("--rps", type=float, help="zone-loss load (default: a fraction of capacity)")
    p.add_argument("--load-fraction", type=float, default=0.5, help="of the router's capacity")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--fault-at", type=float, default=4.0)
    p.add_argument("--zone", default="local-a")
    p.add_argument("--throughput-seconds", type=float, default=8.0)
    p.add_argument("--startup-nice", type=int, default=0, help="passed to `up`")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.rps is not None and args.rps <= 0:
        p.error(f"--rps must be positive, got {args.rps}")
    if not 0 < args.load_fraction <= 1:
        p.error(f"--load-fraction must be within (0, 1], got {args.load_fraction}")
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    z, t = results["zone_loss"], results["throughput"]
    rows = [
        ("failed requests", z["failed"], "0"),
        ("late requests", z["late"], ""),
        ("degraded ratio", z["degraded_ratio"], "<= 0.01"),
        ("p99 ms", z["p99_ms"], "<= 100"),
        ("detection s", z["detection_s"], "<= 1"),
        ("capacity back s", z["capacity_back_s"], "<= 15"),
        ("router rps", t["router_rps"], ""),
        ("direct rps", t["direct_rps"], ""),
        ("router/direct", t["throughput_ratio"], ">= 0.7"),
    ]
    print(f"model: {results['model']}")
    print(f"zone loss of {z['zone']} under {z['rps']:.0f} rps ({z['requests']} requests)")
    for name, value, target in rows:
        print(f"  {name:<18} {value!s:>10}   {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
