"""``python -m bench.capacity_scaling [--json]``: capacity ∝ replicas, and what a zone costs.

With CPU isolation each replica is a node of its own budget (``contracts.resources``), so
an environment's capacity is its replicas' sum, and losing a zone loses its share. This
bench measures it through the router with the drill's own capacity search (open loop,
the highest rate within the p99 budget and the degraded-ratio limit, confirmed twice):

- one zone of 1, 3 and 7 replicas, no standby: capacity against N × the 1-replica figure;
- the drill's topology (3 zones × 2 + 1 standby) before and after one zone is lost, with
  rescheduling held off (``--reschedule-delay`` 100000) so the survivors are measured:
  the lost share against the topology's claim (two of six active replicas gone, the
  standby taking one's place).

``--unisolated`` repeats every figure with ``RECDRILL_ISOLATION=off`` beside the isolated
ones, the local environment as it was (replicas share every CPU). The bench's own process
joins each environment's ``drill`` group, as the drill does. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fixtures import drill_model_store
from contracts.deployment import Deployment
from experiments.capacity import STEP_S
from experiments.drill_conditions import measure_capacity
from experiments.isolation_join import join_drill_group, wait_warm_pool
from infra.local.client import ControlClient
from infra.local.isolation import MODE_ENV

ONE_ZONE = ("--zones", "1", "--standby", "0")
DRILL_TOPOLOGY = ("--zones", "3", "--replicas-per-zone", "2", "--standby", "1")
NEVER_RESCHEDULE = ("--reschedule-delay", "100000")
LOST_ZONE = "local-a"
SETTLE_S = 3.0  # after the zone is lost: the router's health checks and standby promotion


def _infra(workdir: Path, command: str, *args: str, isolated: bool) -> None:
    env = {**os.environ}
    if not isolated:
        env[MODE_ENV] = "off"
    argv = [sys.executable, "-m", "infra.local", command, "--workdir", str(workdir), *args]
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"error: infra.local {command} failed: {result.stderr.strip()[-500:]}")


def _capacity(workdir: Path, step_s: float, label: str) -> dict[str, Any]:
    deployment = workdir / "deployment.json"
    isolation = join_drill_group(Deployment.load(deployment))
    wait_warm_pool(Deployment.load(deployment), say=print)
    started = time.monotonic()
    found = measure_capacity(deployment, step_s, say=lambda line: print(f"  {label}: {line}"))
    return {
        "rps": found.rps,
        "p99_budget_ms": found.p99_budget_ms,
        "search_s": round(time.monotonic() - started, 1),
        "isolation": isolation.get("isolation", "none"),
    }


def measure_environment(
    root: Path, store: str, model: str, args: tuple[str, ...], step_s: float, isolated: bool,
    label: str, lose_zone: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Capacity of one environment (and, with ``lose_zone``, again after losing a zone)."""
    workdir = Path(tempfile.mkdtemp(prefix="cap-", dir=root))
    up = ("--store", store, "--model", model, *args)
    _infra(workdir, "up", *up, isolated=isolated)
    try:
        result = {"before": _capacity(workdir, step_s, label)}
        if lose_zone:
            with ControlClient.from_workdir(workdir) as control:
                control.zone_down(LOST_ZONE)
            time.sleep(SETTLE_S)
            result["after_zone_loss"] = _capacity(workdir, step_s, f"{label}, zone lost")
        return result
    finally:
        _infra(workdir, "down", isolated=isolated)


def run(args: argparse.Namespace) -> dict[str, Any]:
    store = args.store or drill_model_store(Path("var/store"))
    root = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    modes = [True, False] if args.unisolated else [True]
    out: dict[str, Any] = {"replicas": {}, "zone_loss": {}}
    for isolated in modes:
        mode = "isolated" if isolated else "unisolated"
        scaling = {}
        for count in args.replicas:
            label = f"{mode}, {count} replica(s)"
            print(f"{label}: bringing up", flush=True)
            env_args = (*ONE_ZONE, "--replicas-per-zone", str(count))
            scaling[count] = measure_environment(
                root, store, args.model, env_args, args.step_s, isolated, label
            )["before"]
        one = scaling.get(1, {}).get("rps")
        for count, figures in scaling.items():
            figures["per_replica_rps"] = round(figures["rps"] / count, 1)
            if one:
                figures["vs_n_times_one"] = round(figures["rps"] / (count * one), 2)
        out["replicas"][mode] = scaling
        print(f"{mode}, drill topology: bringing up", flush=True)
        zone = measure_environment(
            root, store, args.model, (*DRILL_TOPOLOGY, *NEVER_RESCHEDULE), args.step_s,
            isolated, f"{mode}, 3x2+1", lose_zone=True,
        )  # fmt: skip
        before, after = zone["before"]["rps"], zone["after_zone_loss"]["rps"]
        zone["lost_share"] = round(1 - after / before, 3) if before else None
        zone["claimed_lost_share"] = round(1 - 5 / 6, 3)  # 6 active → 4 active + 1 standby
        out["zone_loss"][mode] = zone
    return out


def _report(results: dict[str, Any]) -> None:
    for mode, scaling in results["replicas"].items():
        print(f"\ncapacity with N replicas ({mode}), one zone, no standby:")
        for count, f in scaling.items():
            ratio = f.get("vs_n_times_one")
            vs = f", {ratio:.2f}× N × one replica's" if ratio is not None else ""
            print(
                f"  {count} replica(s): {f['rps']:.0f} rps ({f['per_replica_rps']:.0f}/replica{vs})"
            )
    for mode, zone in results["zone_loss"].items():
        print(
            f"zone loss ({mode}, 3×2+1, not rescheduled): {zone['before']['rps']:.0f} → "
            f"{zone['after_zone_loss']['rps']:.0f} rps, lost {zone['lost_share']:.0%} "
            f"(the topology's share: {zone['claimed_lost_share']:.0%})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity_scaling", description=__doc__)
    parser.add_argument("--store", help="store URL (default: the drill model in var/store)")
    parser.add_argument("--model", default="recommender")
    parser.add_argument(
        "--replicas", type=int, nargs="+", default=[1, 3, 7], help="replica counts (1 3 7)"
    )
    parser.add_argument("--step-s", type=float, default=STEP_S, help="seconds per load step")
    parser.add_argument(
        "--unisolated", action="store_true", help="also measure with isolation off, side by side"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.replicas):
        parser.error("--replicas: every count must be at least 1")
    results = run(args)
    _report(results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
