"""The whole disaster-recovery drill on the local environment: ``make drill``.

Steps: train and publish a model if the store has no stable one, bring the local
environment up, run the experiment catalog with the real ``chaos`` CLI, gate the
journals, write the report, and bring the environment down even when a step failed.
Each step is a subprocess so that a crash in one cannot leave another's state behind.

The drill knows which experiments it expects (the names given, else the local
catalog) and gates one journal path per expected experiment, so an experiment killed
at its timeout or crashed before writing its journal fails by name instead of
silently dropping out; a failed catalog run fails the drill even if the gate passed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from experiments import catalog

console = Console(stderr=True)
PLATFORM = "local"
EXIT_USAGE = 2

Step = Callable[[str, list[str]], int]


@dataclass(frozen=True)
class DrillPaths:
    """Where a drill keeps its environment, journals and verdict files."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / "env"

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


def _step(title: str, argv: list[str]) -> int:
    """Run one drill step in a subprocess, streaming its output, and time it."""
    console.rule(f"[bold]{title}")
    started = time.monotonic()
    code = subprocess.call(argv)
    took = time.monotonic() - started
    colour = "green" if code == 0 else "red"
    console.print(f"[{colour}]{title}: exit {code} in {took:.1f} s")
    return code


def expected_experiments(names: list[str]) -> list[str]:
    """The experiments the drill must see a journal for: ``names``, else the catalog."""
    known = catalog.names(PLATFORM)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise catalog.UnknownExperiment(
            f"unknown experiment(s) {', '.join(unknown)} for {PLATFORM}; known: {', '.join(known)}"
        )
    return list(dict.fromkeys(names)) or known


def run_drill(
    store: str,
    model: str,
    paths: DrillPaths,
    experiments: list[str],
    train: bool = True,
    step: Step = _step,
    env_args: Sequence[str] = (),
) -> int:
    """Run every drill step; returns the process exit code (0 only if everything passed).

    ``env_args`` go to ``infra.local up`` as they are: the sensitivity matrix weakens the
    environment through them.
    """
    try:
        expected = expected_experiments(experiments)
    except catalog.UnknownExperiment as exc:
        console.print(f"[red]drill: error: {exc}")
        return EXIT_USAGE
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
    try:
        if code != 0:
            return code
        started = time.monotonic()
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
                *expected,
            ],
        )
        catalog_s = time.monotonic() - started
        missing = [n for n in expected if not (paths.journals / f"{n}.json").exists()]
        if missing:
            console.print(f"[red]no journal for: {', '.join(missing)} (fails in the gate)")
        code = step(
            "gate the journals",
            [
                py,
                "-m",
                "experiments",
                "gate",
                *[str(paths.journals / f"{name}.json") for name in expected],
                "--junit",
                str(paths.junit),
                "--summary",
                str(paths.summary),
                "--report",
                str(paths.report),
            ],
        )
        if run_code != 0:
            console.print(f"[red]the catalog run exited {run_code}: the drill fails")
            code = code or run_code
        console.print(f"catalog wall time: {catalog_s:.1f} s")
    finally:
        step(
            "bring the local environment down",
            [py, "-m", "infra.local", "down", "--workdir", str(paths.env)],
        )
    verdict = "[green]PASSED" if code == 0 else "[red]FAILED"
    console.print(f"drill {verdict}[/]; report: {paths.report.resolve()}")
    console.print(f"summary: {paths.summary.resolve()}  junit: {paths.junit.resolve()}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.drill", description=__doc__)
    parser.add_argument("--store", required=True, help="model store URL, e.g. file:///…/store")
    parser.add_argument("--model", default="recommender")
    parser.add_argument("--out", default="var/drill", help="where journals and reports go")
    parser.add_argument("--no-train", action="store_true", help="skip the training step")
    parser.add_argument("experiments", nargs="*", help="experiment names (default: all)")
    args = parser.parse_args(argv)
    paths = DrillPaths(Path(args.out))
    return run_drill(args.store, args.model, paths, args.experiments, train=not args.no_train)


if __name__ == "__main__":
    sys.exit(main())
