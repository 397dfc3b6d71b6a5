"""``python -m bench.region_failover [--json]``: a whole region lost under load.

Brings a fresh two-region local environment up (``infra.local up --regions 2``), sends
``--rps`` open-loop load through the front door (``experiments.probes.load``, timed from
each request's intended send time) and at ``--fault-at`` s SIGKILLs every process of the
primary region (controller, replicas, router, warm pool) and moves its store directory
away (``infra.local.regions.lose_region``), so nothing of the region is left to answer or
to read. Prints, next to the targets:

- failover time: from the kill until the first moment after which 99% of the requests
  were answered (200) by the DR region (target <= 10 s);
- steering time: until the front door's health checks moved the traffic;
- failed requests in the failover window (target <= 1% of its requests) and 5xx after the
  failover (target 0), with the versions the DR region served.

Not a test: it prints figures. On a small shared machine the figures are loaded ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.fixtures import drill_model_store, known_users, model_size
from experiments.probes.load import RequestResult, open_loop, percentile
from infra.local.regions import lose_region

TARGETS = {"failover_s": 10.0, "failed_ratio": 0.01, "errors_5xx_after": 0}
DR_REPLICA_PREFIX = "dr-"
SHARE = 0.99


def by_dr(result: RequestResult, kill_at: float) -> bool:
    """Answered by the DR region: a DR replica's answer (``dr-…``), or a router's degraded
    fallback (it names no replica) to a request sent after the kill, when the DR router is
    the only router left alive."""
    if not result.ok:
        return False
    if (result.replica or "").startswith(DR_REPLICA_PREFIX):
        return True
    return result.degraded and result.replica is None and result.scheduled >= kill_at


def failover_s(results: Sequence[RequestResult], kill_at: float) -> float | None:
    """Seconds from ``kill_at`` to the first request from which on at least 99% of the
    requests were answered by the DR region; None when that never happened."""
    after = sorted((r for r in results if r.scheduled >= kill_at), key=lambda r: r.scheduled)
    dr_from = 0
    suffix: list[tuple[int, int]] = []
    for total, r in enumerate(reversed(after), start=1):
        dr_from += by_dr(r, kill_at)
        suffix.append((dr_from, total))
    suffix.reverse()
    for r, (dr, n) in zip(after, suffix, strict=True):
        if dr >= SHARE * n:
            return round(max(0.0, r.scheduled - kill_at), 3)
    return None


def figures(
    results: Sequence[RequestResult], kill_at: float, steering_s: float | None
) -> dict[str, Any]:
    """Every figure the bench prints, from the load's results and the kill time."""
    failover = failover_s(results, kill_at)
    window_end = kill_at + max(failover or 0.0, steering_s or 0.0, 1.0)
    window = [r for r in results if kill_at <= r.scheduled < window_end]
    after = [r for r in results if r.scheduled >= window_end] if failover is not None else []
    failed = sum(r.failed for r in window)
    before = [r for r in results if r.scheduled < kill_at]
    return {
        "requests": len(results),
        "failover_s": failover,
        "steering_s": None if steering_s is None else round(steering_s, 3),
        "window_s": round(window_end - kill_at, 3),
        "window_requests": len(window),
        "failed_in_window": failed,
        "failed_ratio": round(failed / len(window), 4) if window else None,
        "errors_5xx_after": sum(r.status >= 500 for r in after),
        "failed_after": sum(r.failed for r in after),
        "failed_total": sum(r.failed for r in results),
        "shed_in_window": sum(r.shed for r in window),
        "degraded_in_window": sum(r.degraded for r in window),
        "degraded_after": sum(r.degraded for r in after),
        "p99_ms_before": _ms(percentile([r.latency_s for r in before if r.ok], 99)),
        "p99_ms_after": _ms(percentile([r.latency_s for r in after if r.ok], 99)),
        "dr_versions": sorted({r.version for r in results if by_dr(r, kill_at) and r.version}),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def met(result: dict[str, Any]) -> dict[str, bool]:
    failover, ratio = result["failover_s"], result["failed_ratio"]
    return {
        "failover_s": failover is not None and failover <= TARGETS["failover_s"],
        "failed_ratio": ratio is not None and ratio <= TARGETS["failed_ratio"],
        "errors_5xx_after": result["failover_s"] is not None
        and result["errors_5xx_after"] <= TARGETS["errors_5xx_after"],
    }


# ---- the run ---------------------------------------------------------------------------
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


def _watch_steering(front_door: str, since: list[float], stop: threading.Event) -> list[float]:
    """Polls the front door; the wall time it first served the DR region after ``since``."""
    seen: list[float] = []

    def run() -> None:
        with httpx.Client(timeout=1) as http:
            while not stop.is_set():
                try:
                    serving = http.get(f"{front_door}/v1/regions").json()["serving"]
                except (httpx.HTTPError, ValueError, KeyError):
                    serving = None
                if since and serving == "local-dr" and not seen:
                    seen.append(time.time())
                time.sleep(0.05)

    threading.Thread(target=run, daemon=True).start()
    return seen


async def _run(args: argparse.Namespace, top: Path, store: str, users: list[str]) -> dict:
    description = json.loads((top / "deployment.json").read_text())
    bodies = [orjson.dumps({"user_id": u, "k": 10}) for u in users] if users else None
    killed: list[float] = []
    stop = threading.Event()
    steering = _watch_steering(description["front_door"], killed, stop)
    load = asyncio.create_task(
        open_loop(description["endpoint"], args.rps, args.duration, timeout_s=2.0,
                  bodies=bodies, max_in_flight=args.concurrency)
    )  # fmt: skip
    await asyncio.sleep(args.fault_at)
    lost = await asyncio.to_thread(lose_region, top, "primary")
    killed.append(lost["killed_at"])
    results = await load
    stop.set()
    os.rename(lost["store"], Path(store.removeprefix("file://")))
    steer = steering[0] - killed[0] if steering else None
    return figures(results, killed[0], steer)


def run_once(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    store = args.store or (_tiny_store(root / "store") if args.tiny else None)
    store = store or drill_model_store(root / "store", args.model)
    top = root / "env"
    _cli("up", "--workdir", str(top), "--store", store, "--regions", "2",
         "--zones", str(args.zones), "--replicas-per-zone", "1", "--standby", "0",
         "--warm-pool", "0", "--dr-zones", str(args.dr_zones),
         "--front-door-retry", args.front_door_retry)  # fmt: skip
    try:
        users = known_users(store, args.model) if not args.tiny else []
        result = asyncio.run(_run(args, top, store, users))
        result["model"] = model_size(store, args.model)
    finally:
        _cli("down", "--workdir", str(top))
    result["settings"] = {
        k: getattr(args, k) for k in ("rps", "duration", "fault_at", "zones", "dr_zones")
    } | {"front_door_retry": args.front_door_retry, "cpus": os.cpu_count()}
    return result


def _print(result: dict[str, Any]) -> None:
    ok = met(result)
    rows = [
        ("failover time (s)", result["failover_s"], f"<= {TARGETS['failover_s']}", "failover_s"),
        ("failed in the window", f"{result['failed_in_window']}/{result['window_requests']}"
         f" = {result['failed_ratio']}", f"<= {TARGETS['failed_ratio']}", "failed_ratio"),
        ("5xx after failover", result["errors_5xx_after"], "0", "errors_5xx_after"),
    ]  # fmt: skip
    for label, value, target, key in rows:
        print(f"{label:24} {value!s:>18}   target {target:8} {'met' if ok[key] else 'MISSED'}")
    for key in ("steering_s", "failed_total", "failed_after", "shed_in_window",
                "degraded_in_window", "degraded_after", "p99_ms_before", "p99_ms_after",
                "dr_versions"):  # fmt: skip
        print(f"{key:24} {result[key]!s:>18}")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"settings: {result['settings']}; load average at the end: {' '.join(load) or 'n/a'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.region_failover", description=__doc__)
    p.add_argument("--store", help="a file:// model store (default: the drill-size model)")
    p.add_argument("--tiny", action="store_true", help="the tests' tiny model instead")
    p.add_argument("--model", default="recommender")
    p.add_argument("--rps", type=float, default=50.0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--fault-at", type=float, default=8.0)
    p.add_argument("--concurrency", type=int, default=64, help="requests in flight at most")
    p.add_argument("--zones", type=int, default=3, help="primary zones (1 replica each)")
    p.add_argument("--dr-zones", type=int, default=2, help="DR zones (1 replica each)")
    p.add_argument("--front-door-retry", choices=("on", "off"), default="on")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    if args.rps <= 0 or not 0 < args.fault_at < args.duration:
        p.error("--rps must be positive and --fault-at within --duration")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="region-failover-") as tmp:
        result = run_once(args, Path(tmp))
    if args.json:
        print(json.dumps(result | {"met": met(result)}, indent=2))
    else:
        _print(result)
    return 0 if all(met(result).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
