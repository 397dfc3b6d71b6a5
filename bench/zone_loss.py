"""``python -m bench.zone_loss [--json]``: zone loss under representative load.

Each run brings a fresh local environment up (3 zones × 2 + 1 standby) on the drill-size
model (the one ``make train`` trains; ``--store`` for another, ``--tiny`` for the tests'),
waits until its warm pool is warm, then sends ``--rps`` open-loop load and downs one zone at
``--fault-at`` s. Scenario ``zone-loss+hang`` also hangs (SIGSTOP) one active replica of
a surviving zone at the same moment. Reports failed requests, degraded ratio, p99 (timed
from each request's intended send time), detection (until the router uses no replica of the
zone), capacity back (until the surviving zones hold every active replica again, ready and
seen by the router) and where the CPU went during the fault, by role. ``--runs N`` repeats
each scenario and gives ranges. Not a test: it prints figures next to their targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.fault_watch import Env, watch_fault
from bench.fixtures import drill_model_store, known_users, model_size
from experiments.probes.load import RequestResult, closed_loop, open_loop, summarise
from infra.local import procs
from infra.local.client import ControlClient
from infra.local.config import MARKER_ENV


@dataclass
class LoadReport:
    """The bench's view of a run of the one load generator (``experiments.probes.load``)."""

    samples: list[RequestResult] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.samples)

    def summary(self) -> dict[str, Any]:
        figures = summarise(self.samples)
        return {**figures, "failed": figures["requests"] - figures["ok"]}


def _bodies(users: list[str] | None) -> list[bytes] | None:
    return [orjson.dumps({"user_id": u, "k": 10}) for u in users] if users else None


async def run_load(
    endpoint: str, rps: float, duration: float, concurrency: int = 64, users=None
) -> LoadReport:
    """Open loop: each request timed from its intended send time."""
    results = await open_loop(
        endpoint, rps, duration, bodies=_bodies(users), max_in_flight=concurrency
    )
    return LoadReport(results)


async def _closed(targets, seconds: float, concurrency: int, users) -> LoadReport:
    return LoadReport(await closed_loop(targets, seconds, concurrency, bodies=_bodies(users)))


SCENARIOS = ("zone-loss", "zone-loss+hang")
TARGETS = {
    "failed": 0,
    "degraded_ratio": 0.01,
    "p99_ms": {"zone-loss": 100.0, "zone-loss+hang": 200.0},
    "detection_s": 1.0,
    "capacity_back_s": 15.0,
}
CONCURRENCY = 64


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


def _up_args(args: argparse.Namespace) -> list[str]:
    extra = ["--startup-nice", str(args.startup_nice)]
    for flag in ("warm_pool", "reschedule_delay"):
        value = getattr(args, flag)
        if value is not None:
            extra += [f"--{flag.replace('_', '-')}", str(value)]
    return extra


def _wait_pool_warm(control: ControlClient, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        pool = control.http.get("/v1/replicas").json()["warm_pool"]
        if pool["ready"] >= pool["size"] or time.monotonic() > deadline:
            return pool
        time.sleep(0.25)


async def _fault_under_load(
    env: Env, args: argparse.Namespace, scenario: str, users: list[str]
) -> dict[str, Any]:
    fault_at: list[float] = []
    load_done = asyncio.Event()
    actives = len(env.control.replicas("role=active"))
    hung = 1 if scenario == "zone-loss+hang" else 0
    victim = next(r["id"] for r in env.control.replicas("role=active") if r["zone"] != args.zone)

    async def load() -> LoadReport:
        try:
            return await run_load(
                env.endpoint, args.rps, args.duration, concurrency=CONCURRENCY, users=users
            )
        finally:
            load_done.set()

    load_task = asyncio.create_task(load())
    watch = asyncio.create_task(watch_fault(env, args.zone, actives - hung, fault_at, load_done))
    await asyncio.sleep(args.fault_at)
    fault_at.append(time.monotonic())
    fault_wall = time.time()
    await asyncio.to_thread(env.control.zone_down, args.zone)
    if hung:
        await asyncio.to_thread(env.control.signal_replicas, f"replica={victim}", "STOP")
    report = await load_task
    timings = await watch
    if hung:
        await asyncio.to_thread(env.control.signal_replicas, f"replica={victim}", "CONT")
    before = LoadReport([x for x in report.samples if x.scheduled < fault_wall])
    after = LoadReport([x for x in report.samples if x.scheduled >= fault_wall])
    return {
        "scenario": scenario,
        **report.summary(),
        **timings,
        "hung_replica": victim if hung else None,
        "before_fault": before.summary(),
        "after_fault": after.summary(),
    }


async def _throughput(endpoint: str, direct: list[str], seconds: float, users) -> dict[str, Any]:
    """Alternate short closed-loop rounds through the router and straight at the replicas,
    so that other load on the machine hits both sides alike."""
    rounds = 4
    via_router, straight = LoadReport(), LoadReport()
    for _ in range(rounds):
        via_router.samples += (await _closed(endpoint, seconds / rounds, 16, users)).samples
        straight.samples += (await _closed(direct, seconds / rounds, 16, users)).samples
    r_rps, d_rps = via_router.requests / seconds, straight.requests / seconds
    return {
        "router_rps": round(r_rps, 1),
        "direct_rps": round(d_rps, 1),
        "throughput_ratio": round(r_rps / d_rps, 3) if d_rps else None,
        "router_p99_ms": via_router.summary()["p99_ms"],
        "direct_p99_ms": straight.summary()["p99_ms"],
    }


def run_once(
    store: str, args: argparse.Namespace, scenario: str, users: list[str], throughput: bool
) -> dict[str, Any]:
    """One fresh environment, one fault under load; the environment is always taken down."""
    with tempfile.TemporaryDirectory(prefix="recdrill-bench-") as tmp:
        workdir = Path(tmp) / "env"
        control: ControlClient | None = None
        try:
            up = ("up", "--workdir", str(workdir), "--store", store, "--model", args.model)
            _cli(*up, *_up_args(args))
            control = ControlClient.from_workdir(workdir)
            endpoint = json.loads((workdir / "deployment.json").read_text())["endpoint"]
            env = Env(workdir, endpoint, control)
            result: dict[str, Any] = {}
            if throughput and args.throughput_seconds > 0:
                direct = [r["url"] for r in control.replicas("role=active")]
                result["throughput"] = asyncio.run(
                    _throughput(endpoint, direct, args.throughput_seconds, users)
                )
            asyncio.run(run_load(endpoint, args.rps, 3.0, users=users))  # warm-up
            result["warm_pool_at_fault"] = _wait_pool_warm(control, args.pool_timeout)
            result["load_average_before"] = round(os.getloadavg()[0], 1)
            result |= asyncio.run(_fault_under_load(env, args, scenario, users))
            return result
        finally:  # also after an interrupted `up`: down is safe when nothing is up
            if control is not None:
                control.close()
            _cli("down", "--workdir", str(workdir))
            for pid in procs.pids_with_marker(f"{MARKER_ENV}={workdir.resolve()}\0"):
                procs.signal_group(pid, 9)


def _met(run: dict[str, Any]) -> dict[str, bool]:
    p99_target = TARGETS["p99_ms"][run["scenario"]]
    return {
        "failed": run["failed"] <= TARGETS["failed"],
        "degraded_ratio": run["degraded_ratio"] <= TARGETS["degraded_ratio"],
        "p99_ms": (run["p99_ms"] or 1e9) <= p99_target,
        "detection_s": (run["detection_s"] or 1e9) <= TARGETS["detection_s"],
        "capacity_back_s": (run["capacity_back_s"] or 1e9) <= TARGETS["capacity_back_s"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="recdrill-tiny-") as tmp:
        if args.tiny:
            store = _tiny_store(Path(tmp) / "store")
        else:
            store = args.store or drill_model_store(Path(args.store_dir), args.model)
        size = model_size(store, args.model)
        users = known_users(store, args.model)
        scenarios = SCENARIOS if args.scenario == "both" else (args.scenario,)
        runs = []
        for i in range(args.runs):
            for scenario in scenarios:
                result = run_once(store, args, scenario, users, throughput=not runs)
                result["met"] = _met(result)
                runs.append(result)
                _progress(i, result)
    return {
        "model": size,
        "load": {
            "rps": args.rps,
            "duration_s": args.duration,
            "fault_at_s": args.fault_at,
            "zone": args.zone,
            "users_cycled": len(users),
            "max_in_flight": CONCURRENCY,
        },
        "options": {
            "startup_nice": args.startup_nice,
            "warm_pool": args.warm_pool,
            "reschedule_delay": args.reschedule_delay,
        },
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "runs": runs,
    }


def _progress(i: int, r: dict[str, Any]) -> None:
    print(
        f"run {i + 1} {r['scenario']}: failed {r['failed']}, degraded {r['degraded_ratio']}, "
        f"p99 {r['p99_ms']} ms, detection {r['detection_s']} s, back {r['capacity_back_s']} s, "
        f"load average {r['load_average_before']:.1f}",
        file=sys.stderr,
        flush=True,
    )


ROWS = (
    ("failed requests", "failed", "0"),
    ("degraded ratio", "degraded_ratio", "<= 0.01"),
    ("p99 ms", "p99_ms", None),
    ("detection s", "detection_s", "<= 1"),
    ("capacity back s", "capacity_back_s", "<= 15"),
    ("load average (1 min)", "load_average_before", ""),
)


def _report(results: dict[str, Any]) -> None:
    m, load = results["model"], results["load"]
    print(
        f"model {m['version']}: {m['users']} users, {m['items']} items, dim {m['dim']}, "
        f"{m['version_bytes'] / 1e6:.1f} MB ({m['store']})"
    )
    print(
        f"load: {load['rps']:.0f} rps open loop for {load['duration_s']:.0f} s over "
        f"{load['users_cycled']} known users; zone {load['zone']} down at {load['fault_at_s']} s"
    )
    for scenario in SCENARIOS:
        runs = [r for r in results["runs"] if r["scenario"] == scenario]
        if not runs:
            continue
        print(f"\n{scenario} ({len(runs)} run{'s' if len(runs) > 1 else ''})")
        for label, key, target in ROWS:
            values = [r[key] for r in runs]
            shown = "  ".join(f"{v!s:>8}" for v in values)
            target = target if target is not None else f"<= {TARGETS['p99_ms'][scenario]:.0f}"
            met = (
                ""
                if key not in runs[0]["met"]
                else ("met" if all(r["met"][key] for r in runs) else "NOT met")
            )
            print(f"  {label:<22} {shown}   {target:<8} {met}")
        cpu = runs[-1]["cpu_during_fault"]
        print(
            "  CPU during the fault (last run): "
            + ", ".join(f"{role} {v['cores']:.2f} cores" for role, v in cpu.items())
        )
    for r in results["runs"]:
        if "throughput" in r:
            t = r["throughput"]
            print(
                f"\nclosed loop: router {t['router_rps']} rps, direct {t['direct_rps']} rps "
                f"(ratio {t['throughput_ratio']})"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.zone_loss", description=__doc__)
    p.add_argument("--store", help="model store URL (default: the drill-size model, see below)")
    p.add_argument(
        "--store-dir",
        default="var/store",
        help="where the drill-size model is trained if it is not there (var/store, "
        "as `make train`)",
    )
    p.add_argument("--tiny", action="store_true", help="the tests' tiny model instead")
    p.add_argument("--model", default="recommender")
    p.add_argument("--scenario", choices=(*SCENARIOS, "both"), default="both")
    p.add_argument("--runs", type=int, default=1, help="runs of each scenario (ranges)")
    p.add_argument("--rps", type=float, default=200.0)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--fault-at", type=float, default=4.0)
    p.add_argument("--zone", default="local-a")
    p.add_argument(
        "--throughput-seconds",
        type=float,
        default=0.0,
        help="closed-loop router vs direct rps before the first run (0: skip)",
    )
    p.add_argument(
        "--pool-timeout",
        type=float,
        default=120.0,
        help="how long to wait for the warm pool before the fault",
    )
    p.add_argument("--startup-nice", type=int, default=0, help="passed to `up`")
    p.add_argument("--warm-pool", type=int, help="passed to `up` (0: cold replacements)")
    p.add_argument("--reschedule-delay", type=float, help="passed to `up`")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    # a SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so each run's `down` still happens
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
