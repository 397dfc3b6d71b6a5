"""``python -m experiments sensitivity``: show that the drill catches what it claims to catch.

The drill runs against deployments weakened one resilience mechanism at a time, each
through a real ``infra.local up`` option an operator could get wrong (no test hooks in
the product). Every weakening names the experiments expected to catch it; the run
records which experiments really failed, fails when a weakening is caught by none,
and ends with the healthy deployment, which must pass (a gate that fails healthy
systems gets switched off).

Some mechanisms back each other up: a replica that hangs is retried past *and*
ejected, so switching off either one alone costs nothing the SLO can see. The depth
pairs switch off both at once; when a pair is caught, each single weakening it backs up
is shown to be covered by defence in depth rather than by a blind catalog. A single
weakening that is neither caught nor covered by a caught pair is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


@dataclass(frozen=True)
class Weakening:
    """One mechanism switched off through real configuration, and who should notice."""

    name: str
    mechanism: str
    up_args: tuple[str, ...]
    expected: tuple[str, ...]
    backs_up: tuple[str, ...] = ()  # a depth pair: the single weakenings it explains


WEAKENINGS: tuple[Weakening, ...] = (
    Weakening("router-retries-off", "router retries", ("--router-retries", "0"),
              ("replica-loss", "zone-loss", "zone-hang", "slow-replica")),
    Weakening("ejection-off", "passive ejection", ("--router-ejection", "off"),
              ("slow-replica",)),
    Weakening("fallback-off", "popular-items fallback", ("--router-fallback", "off"),
              ("zone-loss", "store-outage", "serving-outage")),
    Weakening("no-standby", "warm standby", ("--standby", "0"), ("zone-loss",)),
    Weakening("one-zone", "zone redundancy", ("--zones", "1"), ("zone-loss",)),
    Weakening("never-reschedule", "rescheduling", ("--reschedule-delay", "100000"),
              ("zone-loss",)),
    Weakening("drain-grace-0", "graceful drain", ("--drain-grace", "0"),
              ("model-corruption", "store-outage")),
    Weakening("try-timeout-over-budget", "router per-try timeout",
              ("--router-try-timeout", "1.0"), ("slow-replica", "zone-hang")),
    Weakening("unwritable-cache", "verified local cache",
              ("--replica-cache-dir", "/proc/recdrill-cache"), ("store-outage",)),
    Weakening("health-checks-slow", "router active health checks",
              ("--router-probe-interval", "30"), ("slow-replica", "replica-loss")),
    Weakening("model-poll-too-slow", "model hot reload", ("--model-poll-interval", "100000"),
              ("bad-model-rollout", "model-corruption", "model-rollout")),
)  # fmt: skip
DEPTH_PAIRS: tuple[Weakening, ...] = (
    Weakening("retries-and-ejection-off", "router retries and passive ejection together",
              ("--router-retries", "0", "--router-ejection", "off"), ("slow-replica",),
              backs_up=("router-retries-off", "ejection-off")),
    # A hung replica is routed around three ways: retries, passive ejection and the
    # active health checks (every 0.2 s); the pair above still has the third.
    Weakening("retries-ejection-and-health-checks-off",
              "router retries, passive ejection and active health checks together",
              ("--router-retries", "0", "--router-ejection", "off",
               "--router-probe-interval", "30"), ("slow-replica",),
              backs_up=("router-retries-off", "ejection-off", "health-checks-slow")),
    Weakening("slow-try-timeout-and-ejection-off",
              "per-try timeout and passive ejection together",
              ("--router-try-timeout", "1.0", "--router-ejection", "off"), ("slow-replica",),
              backs_up=("try-timeout-over-budget", "ejection-off")),
    Weakening("slow-try-timeout-ejection-and-health-checks-off",
              "per-try timeout, passive ejection and active health checks together",
              ("--router-try-timeout", "1.0", "--router-ejection", "off",
               "--router-probe-interval", "30"), ("slow-replica",),
              backs_up=("try-timeout-over-budget", "ejection-off", "health-checks-slow")),
)  # fmt: skip
HEALTHY = Weakening("healthy", "nothing weakened", (), ())


@dataclass
class Row:
    """What one drill against one deployment showed."""

    weakening: Weakening
    failed: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    exit_code: int = 0
    seconds: float = 0.0
    covered_by: list[str] = field(default_factory=list)

    @property
    def deploy_failed(self) -> bool:
        """The weakened environment never came up, so no experiment ran at all."""
        return self.exit_code != 0 and not self.ran

    @property
    def caught(self) -> bool:
        return bool(self.failed) or self.deploy_failed

    @property
    def ok(self) -> bool:
        """A weakening must be caught (or, alone, covered by a caught depth pair); the
        healthy deployment must pass. A depth pair is evidence, not a requirement: one the
        drill survives covers nothing, and its singles stay missed unless another is caught."""
        if self.weakening is HEALTHY:
            return self.exit_code == 0 and not self.failed
        if self.weakening.backs_up:
            return True
        return self.caught or bool(self.covered_by)


def mark_covered(rows: Sequence[Row]) -> None:
    """Each missed single weakening notes the caught depth pairs that back it up."""
    caught_pairs = [r.weakening for r in rows if r.weakening.backs_up and r.caught]
    for row in rows:
        if not row.weakening.backs_up and not row.caught:
            row.covered_by = [p.name for p in caught_pairs if row.weakening.name in p.backs_up]


DrillFn = Callable[[Weakening, Path, list[str]], int]


def failed_experiments(junit: Path) -> tuple[list[str], list[str]]:
    """(experiments that ran, experiments that failed) from the gate's JUnit file."""
    if not junit.is_file():
        return [], []
    root = ET.parse(junit).getroot()
    ran, failed = [], []
    for case in root.iter("testcase"):
        ran.append(case.get("name", "?"))
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return ran, failed


def run_matrix(
    weakenings: Sequence[Weakening], out: Path, drill: DrillFn, *, full: bool = False
) -> list[Row]:
    """Run the drill per weakening (its expected experiments, or all), then the healthy one."""
    rows = []
    for weakening in [*weakenings, HEALTHY]:
        names = [] if full or weakening is HEALTHY else list(weakening.expected)
        where = out / weakening.name
        console.rule(f"[bold]{weakening.name}[/]: {weakening.mechanism}")
        started = time.monotonic()
        code = drill(weakening, where, names)
        ran, failed = failed_experiments(where / "junit.xml")
        rows.append(Row(weakening, failed, ran, code, time.monotonic() - started))
    mark_covered(rows)
    return rows


def _failed_text(row: Row) -> str:
    if row.deploy_failed:
        return f"(the environment did not come up: exit {row.exit_code})"
    return ", ".join(row.failed) or "none"


def table(rows: Sequence[Row]) -> Table:
    out = Table(title="Sensitivity: weakening → experiments that failed")
    for column in ("weakening", "mechanism", "expected", "failed", "verdict"):
        out.add_column(column)
    for row in rows:
        if row.covered_by:
            verdict = f"[yellow]covered by {', '.join(row.covered_by)}"
        elif row.weakening.backs_up and not row.caught:
            verdict = "[yellow]survived: covers nothing"
        elif row.ok:
            verdict = "[green]ok"
        else:
            verdict = "[red]MISSED" if row.weakening is not HEALTHY else "[red]FALSE ALARM"
        out.add_row(
            row.weakening.name,
            row.weakening.mechanism,
            ", ".join(row.weakening.expected) or "—",
            _failed_text(row),
            verdict,
        )
    return out


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        "| weakening (real option) | expected to catch it | failed | caught? |",
        "|---|---|---|---|",
    ]
    for row in rows:
        option = " ".join(row.weakening.up_args) or "(defaults)"
        if row.weakening is HEALTHY:
            status = "passed" if row.ok else "FAILED"
        elif row.covered_by:
            status = f"covered: {', '.join(row.covered_by)} caught"
        elif row.weakening.backs_up:
            status = "yes (depth)" if row.caught else "survived (depth: covers nothing)"
        else:
            status = "yes" if row.ok else "**no**"
        lines.append(
            f"| {row.weakening.name} (`{option}`) | {', '.join(row.weakening.expected) or '—'}"
            f" | {_failed_text(row)} | {status} |"
        )
    return "\n".join(lines) + "\n"


def zone_loss_pair(out: Path) -> tuple[Path, Path]:
    """The healthy drill's zone-loss journal and the no-standby drill's, in ``out``."""
    return (
        out / HEALTHY.name / "journals" / "zone-loss.json",
        out / "no-standby" / "journals" / "zone-loss.json",
    )


def write_results(rows: Sequence[Row], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows)
    healthy, without = zone_loss_pair(out)
    if healthy.is_file() and without.is_file():
        from experiments.standby_value import compare, standby_markdown

        try:
            text += "\n" + standby_markdown(compare(healthy, without))
        except (OSError, ValueError, KeyError) as exc:
            text += f"\nWhat the standby buys: not shown ({exc})\n"
    (out / "sensitivity.md").write_text(text)
    body = [{**asdict(r), "caught": r.caught, "ok": r.ok} for r in rows]
    (out / "sensitivity.json").write_text(json.dumps(body, indent=2))


def select(names: Sequence[str]) -> list[Weakening]:
    """The weakenings and depth pairs named (all when none); ValueError names an unknown one."""
    known = {w.name: w for w in (*WEAKENINGS, *DEPTH_PAIRS)}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown weakening {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names] if names else list(known.values())


@dataclass(frozen=True)
class HeldLoad:
    """What every drill of the matrix is held to: the healthy deployment's base load,
    design peak and one replica's share of its capacity."""

    load_rps: float
    peak_rps: float
    replica_capacity_rps: float | None = None


def healthy_load(store: str, model: str, out: Path) -> HeldLoad:
    """The healthy deployment's base load and design peak, measured on one of its own:
    a weakened deployment is held to what the healthy one must carry, not to its own
    (without the standby, its own design peak would claim less)."""
    from contracts.deployment import Deployment
    from experiments.drill import DrillPaths
    from experiments.drill_conditions import LoadChoice, measure_capacity, plan_load
    from experiments.isolation_join import join_drill_group

    paths = DrillPaths(out / "healthy-capacity")
    up = [sys.executable, "-m", "infra.local", "up", "--workdir", str(paths.env)]
    console.rule("[bold]healthy capacity[/]: the load every drill is held to")
    subprocess.run([*up, "--store", store, "--model", model], check=True)
    try:
        deployment = Deployment.load(paths.deployment)
        join_drill_group(deployment, say=console.print)
        planned = plan_load(
            LoadChoice(),
            lambda step: measure_capacity(paths.deployment, step, say=console.print),
            say=console.print,
            topology=deployment.to_json(),
        )
    finally:
        down = [sys.executable, "-m", "infra.local", "down", "--workdir", str(paths.env)]
        subprocess.run(down, check=False)
    return HeldLoad(
        float(planned["load_rps"]),
        float(planned["design_peak_rps"]),
        float(planned["replica_capacity_rps"]),
    )


def _real_drill(store: str, model: str, held: HeldLoad) -> DrillFn:
    from experiments.drill import DrillPaths, run_drill
    from experiments.drill_conditions import LoadChoice

    load = LoadChoice(
        rps=held.load_rps,
        peak_rps=held.peak_rps,
        replica_capacity_rps=held.replica_capacity_rps,
    )

    def drill(weakening: Weakening, where: Path, names: list[str]) -> int:
        without = zone_loss_pair(where.parent)[1]
        pair = without if weakening is HEALTHY and without.is_file() else None
        return run_drill(
            store,
            model,
            DrillPaths(where),
            names,
            train=False,
            env_args=weakening.up_args,
            load=load,
            regions=False,  # the weakenings are of the single-region environment's mechanisms
            standby_pair=pair,
        )

    return drill


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments sensitivity", description=__doc__)
    parser.add_argument("--store", required=True, help="model store URL with a stable model")
    parser.add_argument("--model", default="recommender")
    parser.add_argument("--out", default="var/sensitivity")
    parser.add_argument(
        "--full", action="store_true", help="run the whole catalog per weakening (slow)"
    )
    parser.add_argument(
        "--load-rps",
        type=float,
        help="hold every drill at this load (give --peak-rps too); by default a healthy "
        "deployment's capacity is measured first and every drill runs at half of it",
    )
    parser.add_argument(
        "--peak-rps",
        type=float,
        help="hold the zone and replica experiments at this rate (the healthy design peak)",
    )
    parser.add_argument(
        "--replica-capacity-rps",
        type=float,
        help="one healthy replica's share of capacity, for zone-loss's capacity check "
        "(with --load-rps; default: that check is not judged)",
    )
    parser.add_argument("weakenings", nargs="*", help="weakening names (default: all)")
    args = parser.parse_args(argv)
    try:
        chosen = select(args.weakenings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if (args.load_rps is None) != (args.peak_rps is None):
        print("error: give both --load-rps and --peak-rps, or neither", file=sys.stderr)
        return 2
    if args.replica_capacity_rps is not None and args.load_rps is None:
        print("error: --replica-capacity-rps needs --load-rps and --peak-rps", file=sys.stderr)
        return 2
    if args.load_rps is not None:
        held = HeldLoad(args.load_rps, args.peak_rps, args.replica_capacity_rps)
    else:
        try:
            held = healthy_load(args.store, args.model, out)
        except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as exc:
            print(f"error: cannot measure the healthy capacity: {exc}", file=sys.stderr)
            return 1
        console.print(
            f"every drill held at {held.load_rps:g} rps, design peak {held.peak_rps:g} rps, "
            f"{held.replica_capacity_rps:g} rps a replica"
        )
    drill = _real_drill(args.store, args.model, held)
    rows = run_matrix(chosen, out, drill, full=args.full)
    write_results(rows, out)
    console.print(table(rows))
    missed = [r.weakening.name for r in rows if not r.ok]
    if missed:
        console.print(f"[red]sensitivity FAILED: {', '.join(missed)}")
        return 1
    console.print("[green]every weakening was caught and the healthy deployment passed")
    return 0
