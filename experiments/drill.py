"""The whole disaster-recovery drill on the local environment: ``make drill``.

Steps: train and publish a model if the store has no stable one, bring the local
environment up, run the experiment catalog with the real ``chaos`` CLI, gate the
journals, write the report, and bring the environment down even when a step failed.
Each step is a subprocess so that a crash in one cannot leave another's state behind.

Before the catalog the drill measures the router's capacity within the p99 budget and
runs every experiment's traffic at ``--load-fraction`` of it (``experiments.capacity``).
When ``prometheus`` is on the PATH it also runs a real Prometheus with the recommender's
rules, waits until no alert is active, and after the catalog writes each experiment's
alert timeline beside its journal, so the gate checks that the expected alerts fired
(``experiments.detection``); without it the summary says detection was not checked.

The drill knows which experiments it expects (the names given, else the local
catalog) and gates one journal path per expected experiment, so an experiment killed
at its timeout or crashed before writing its journal fails by name instead of
silently dropping out; a failed catalog run fails the drill even if the gate passed.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from contracts.deployment import Deployment, DeploymentError
from experiments import catalog
from experiments.capacity import STEP_S, Capacity, CapacityError
from experiments.drill_conditions import (
    LoadChoice,
    Monitor,
    load_line,
    measure_capacity,
    plan_load,
    record_alerts,
    start_monitoring,
)
from experiments.drill_regions import run_regional_phase
from experiments.isolation_join import join_drill_group, wait_warm_pool
from experiments.report_cli import record_drill
from infra.local.client import ControlError
from monitoring.alerts_client import PrometheusQueryError
from monitoring.local import PrometheusError

console = Console(stderr=True)

# The sensitivity matrix's zone-loss without the standby (python -m experiments sensitivity).
DEFAULT_STANDBY_PAIR = Path("var/sensitivity/no-standby/journals/zone-loss.json")
PLATFORM = "local"
EXIT_USAGE = 2

QUIET_TIMEOUT_S = 60.0
DEFAULT_LOAD = LoadChoice()

Step = Callable[[str, list[str]], int]


@dataclass(frozen=True)
class DrillPaths:
    """Where a drill keeps its environment, journals and verdict files."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def regions(self) -> DrillPaths:
        """The regional phase's environment and Prometheus, under ``root/regions``."""
        return DrillPaths(self.root / "regions")

    @property
    def deployment(self) -> Path:
        return self.env / "deployment.json"

    @property
    def journals(self) -> Path:
        return self.root / "journals"

    @property
    def junit(self) -> Path:
        return self.root / "junit.xml"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"


def _step(title: str, argv: list[str]) -> int:
    """Run one drill step in a subprocess, streaming its output, and time it."""
    console.rule(f"[bold]{title}")
    started = time.monotonic()
    code = subprocess.call(argv)
    took = time.monotonic() - started
    colour = "green" if code == 0 else "red"
    console.print(f"[{colour}]{title}: exit {code} in {took:.1f} s")
    return code


def expected_experiments(names: list[str], regions: bool = True) -> list[str]:
    """The experiments the drill must see a journal for: ``names``, else the catalog
    (with the region experiments unless ``regions`` is off)."""
    known = catalog.names(PLATFORM, regions)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise catalog.UnknownExperiment(
            f"unknown experiment(s) {', '.join(unknown)} for {PLATFORM}; known: {', '.join(known)}"
        )
    return list(dict.fromkeys(names)) or known


def _measure(paths: DrillPaths, step_s: float) -> Capacity:
    console.rule("[bold]measure capacity through the router")
    return measure_capacity(paths.deployment, step_s, say=console.print)


def _monitoring(paths: DrillPaths) -> Monitor | None:
    return start_monitoring(paths.deployment, paths.prometheus)


def _load_args(load: dict[str, Any]) -> list[str]:
    args = ["--load-rps", str(load["load_rps"])]
    if "capacity_rps" in load:
        args += ["--capacity-rps", str(load["capacity_rps"])]
    if "design_peak_rps" in load:
        args += ["--peak-rps", str(load["design_peak_rps"])]
    if "replica_capacity_rps" in load:
        args += ["--replica-capacity-rps", str(load["replica_capacity_rps"])]
    return args


def _append_summary(paths: DrillPaths, load: dict[str, float] | None, detection: str) -> None:
    """The drill's conditions under the gate's summary: the load used, detection or not."""
    lines = ["", "### Drill conditions", ""]
    lines.append(f"- load: {load_line(load)}" if load else "- load: not planned")
    lines.append(f"- detection: {detection}")
    with contextlib.suppress(OSError), paths.summary.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def run_drill(
    store: str,
    model: str,
    paths: DrillPaths,
    experiments: list[str],
    train: bool = True,
    step: Step = _step,
    env_args: Sequence[str] = (),
    load: LoadChoice = DEFAULT_LOAD,
    measure: Callable[[DrillPaths, float], Capacity] = _measure,
    monitoring: Callable[[DrillPaths], Monitor | None] = _monitoring,
    regions: bool = True,
    standby_pair: Path | None = None,
) -> int:
    """Run every drill step; returns the process exit code (0 only if everything passed).

    ``standby_pair``: a zone-loss journal of a deployment without a standby, shown in the
    report beside this drill's zone-loss (what the standby buys, with its cost).

    ``env_args`` go to ``infra.local up`` as they are: the sensitivity matrix weakens the
    environment through them. ``measure`` and ``monitoring`` are the capacity search and
    the Prometheus start (tests give small fakes). The region experiments run after the
    rest, on two regions of their own (``experiments.drill_regions``), unless ``regions``
    is off; one gate judges every journal.
    """
    try:
        expected = expected_experiments(experiments, regions)
    except catalog.UnknownExperiment as exc:
        console.print(f"[red]drill: error: {exc}")
        return EXIT_USAGE
    regional = [n for n in expected if catalog.needs_regions(n)]
    single = [n for n in expected if n not in regional]
    py = sys.executable
    paths.root.mkdir(parents=True, exist_ok=True)
    for stale in paths.journals.glob("*.json") if paths.journals.is_dir() else []:
        stale.unlink()
    if train:
        code = step(
            "train (only if the store has no stable model)",
            [py, "-m", "training", "train", "--store", store, "--model", model, "--if-no-stable"],
        )
        if code != 0:
            return code
    up = [py, "-m", "infra.local", "up", "--workdir", str(paths.env), "--store", store]
    code = step("bring the local environment up", [*up, "--model", model, *env_args])
    monitor: Monitor | None = None
    try:
        if code != 0:
            return code
        topology: dict[str, Any] | None = None
        with contextlib.suppress(DeploymentError, OSError, ValueError):  # measure says why
            deployment = Deployment.load(paths.deployment)
            join_drill_group(deployment, say=console.print)
            topology = deployment.to_json()
            try:
                waited = wait_warm_pool(deployment, say=console.print)
            except ControlError as exc:
                console.print(f"[yellow]drill: cannot see the warm pool: {exc}")
                waited = None
            if waited is not None:
                console.print(f"warm pool full after {waited:.1f} s")
        try:
            planned = plan_load(
                load, lambda s: measure(paths, s), say=console.print, topology=topology
            )
        except (CapacityError, OSError, ValueError) as exc:
            console.print(f"[red]drill: capacity: {exc}")
            return 1
        detection = "not checked: prometheus is not on the PATH"
        try:
            monitor = monitoring(paths)
        except (PrometheusError, ControlError, OSError) as exc:
            console.print(f"[red]drill: prometheus did not start: {exc}")
            detection = f"not checked: prometheus did not start ({exc})"
            code = 1
        if monitor is not None:
            detection = f"checked with Prometheus at {monitor.url}"
            try:
                waited = monitor.wait_quiet(QUIET_TIMEOUT_S)
                console.print(f"monitoring quiet after {waited:.1f} s: no alert active")
            except (TimeoutError, PrometheusQueryError) as exc:
                console.print(f"[yellow]drill: {exc}")
        console.print(f"[bold]load: {load_line(planned)}; detection {detection}")
        started = time.monotonic()
        since = time.time()
        run_code = 0
        if single:
            run_code = step(
                "run the experiment catalog",
                [
                    py,
                    "-m",
                    "experiments",
                    "run",
                    "--deployment",
                    str(paths.deployment),
                    "--journals",
                    str(paths.journals),
                    *_load_args(planned),
                    *single,
                ],
            )
        journals = [paths.journals / f"{n}.json" for n in single]
        problem = record_alerts(monitor, since, journals, detection.removeprefix("not checked: "))
        single_s = time.monotonic() - started
        regional_times: dict[str, float] = {}
        if problem:
            console.print(f"[red]drill: {problem}")
            detection, code = f"not checked: {problem}", 1
        if regional:
            if monitor is not None:
                monitor.stop()
                monitor = None
            step("bring the local environment down", _down(py, paths.env))
            regional_code = run_regional_phase(
                step,
                py,
                store,
                model,
                paths.regions.env,
                paths.journals,
                regional,
                planned,
                watch=lambda: monitoring(paths.regions),
                timings=regional_times,
            )
            run_code = run_code or regional_code
            journals += [paths.journals / f"{n}.json" for n in regional]
        missing = [n for n in expected if not (paths.journals / f"{n}.json").exists()]
        if missing:
            console.print(f"[red]no journal for: {', '.join(missing)} (fails in the gate)")
        gate_code = step(
            "gate the journals",
            [
                py,
                "-m",
                "experiments",
                "gate",
                *[str(j) for j in journals],
                "--junit",
                str(paths.junit),
                "--summary",
                str(paths.summary),
                "--report",
                str(paths.report),
            ],
        )
        code = code or gate_code
        if run_code != 0:
            console.print(f"[red]the catalog run exited {run_code}: the drill fails")
            code = code or run_code
        console.print(catalog_time_line(single_s, regional_times))
        record_drill(paths.root, expected, standby_pair)
        _append_summary(paths, planned, detection)
    finally:
        if monitor is not None:
            monitor.stop()
        step("bring the local environment down", _down(py, paths.env))
    verdict = "[green]PASSED" if code == 0 else "[red]FAILED"
    console.print(f"drill {verdict}[/]; report: {paths.report.resolve()}")
    console.print(f"summary: {paths.summary.resolve()}  junit: {paths.junit.resolve()}")
    return code


def catalog_time_line(single_s: float, regional: dict[str, float]) -> str:
    """The catalog time: running the experiments and settling their alerts, in both
    phases; switching to the two-region environment is said apart, like the first up."""
    running = single_s + regional.get("experiments", 0.0)
    line = f"catalog time: {running:.1f} s running the experiments (single-region {single_s:.1f} s"
    if "experiments" not in regional:
        return line + ")"
    return (
        f"{line}, two-region {regional['experiments']:.1f} s); "
        f"{regional.get('environment', 0.0):.1f} s switching to the two regions and back "
        "(up, Prometheus, down)"
    )


def _down(py: str, workdir: Path) -> list[str]:
    """``infra.local down`` is idempotent, so the final one after the regional phase's is safe."""
    return [py, "-m", "infra.local", "down", "--workdir", str(workdir)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.drill", description=__doc__)
    parser.add_argument("--store", required=True, help="model store URL, e.g. file:///…/store")
    parser.add_argument("--model", default="recommender")
    parser.add_argument("--out", default="var/drill", help="where journals and reports go")
    parser.add_argument("--no-train", action="store_true", help="skip the training step")
    parser.add_argument(
        "--load-fraction",
        type=_fraction,
        default=0.5,
        help="share of the measured capacity the experiments send (default 0.5)",
    )
    parser.add_argument(
        "--load-rps", type=_fraction_or_rate, help="skip the capacity search; send this rate"
    )
    parser.add_argument(
        "--capacity-step-s",
        type=_fraction_or_rate,
        default=STEP_S,
        help=f"seconds per load step (default {STEP_S:g})",
    )
    parser.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="pass FLAG to `infra.local up` (repeatable; write it as --env-arg=FLAG), e.g. "
        "--env-arg=--reschedule-delay=8 "
        "to drill a deliberately weakened environment",
    )
    parser.add_argument(
        "--no-regions",
        action="store_true",
        help="skip the regional phase (region-loss, replication-lag on `up --regions 2`)",
    )
    parser.add_argument(
        "--standby-pair",
        type=Path,
        default=DEFAULT_STANDBY_PAIR if DEFAULT_STANDBY_PAIR.is_file() else None,
        help="a zone-loss journal without the standby, shown beside this drill's "
        f"(default: {DEFAULT_STANDBY_PAIR} when the sensitivity matrix left one)",
    )
    parser.add_argument("experiments", nargs="*", help="experiment names (default: all)")
    args = parser.parse_args(argv)
    paths = DrillPaths(Path(args.out))
    load = LoadChoice(args.load_fraction, args.load_rps, args.capacity_step_s)
    return run_drill(
        args.store,
        args.model,
        paths,
        args.experiments,
        train=not args.no_train,
        load=load,
        env_args=tuple(args.env_arg),
        regions=not args.no_regions,
        standby_pair=args.standby_pair,
    )


def _fraction_or_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _fraction_or_rate(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
