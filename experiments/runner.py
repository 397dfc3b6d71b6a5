"""Run rendered experiments with the real ``chaos`` CLI, one subprocess each.

chaoslib's ``run_experiment`` must own the main thread (signals), so each experiment
runs in its own ``chaos run`` process with ``--rollback-strategy always`` and the
continuous steady-state strategy. ``chaos run``'s exit code is reported but not trusted
(it is 0 for several failures); the gate judges the journals.

After each run the experiment's rollback state file is checked: anything still pending
(a safeguard trip or a crash that skipped a rollback) is reverted there and then, so the
next experiment starts from a whole environment. With ``escalate`` each journal is
judged as soon as it is written and the run stops at the first failed experiment.

Layout of the journals directory::

    <name>.json              the journal (what the gate reads)
    <name>.timeseries.json   the background recorder's samples
    <name>.alerts.json       the alert timeline (written by the drill when Prometheus ran)
    <name>.log               chaos's log
    .rendered/<name>.json    the experiment as run, and .rendered/vars.json (0600)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments import state
from experiments.detection import alerts_path
from experiments.render import VAR_FILE, render
from experiments.rollback import rollback_state

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RunResult:
    name: str
    journal: Path
    exit_code: int | None  # None: the run was killed after RUN_TIMEOUT_S
    seconds: float
    passed: bool | None = None  # judged only when escalating
    backstop: tuple[str, ...] = ()  # what the state file still held and was reverted


def chaos_binary() -> Path:
    """``chaos`` next to the running interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "chaos"
    return beside if beside.exists() else Path("chaos")


def chaos_argv(experiment: Path, journal: Path, var_file: Path, log: Path) -> list[str]:
    timeseries = journal.with_name(f"{journal.stem}.timeseries.json")
    return [
        str(chaos_binary()),
        "--log-file",
        str(log),
        "run",
        str(experiment),
        "--journal-path",
        str(journal),
        "--rollback-strategy",
        "always",
        "--hypothesis-strategy",
        "continuously",
        "--hypothesis-frequency",
        "1",
        "--var-file",
        str(var_file),
        "--var",
        f"timeseries_path={timeseries}",
    ]


def _run_one(argv: list[str], timeout_s: float) -> int | None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        return None
    except BaseException:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise


def state_backstop(experiment: Path, progress: Callable[[str], None]) -> tuple[str, ...]:
    """Revert whatever the experiment's state file still holds pending."""
    path = json.loads(experiment.read_text())["configuration"].get("state_file")
    if not path or not state.pending(path):
        return ()
    reverted, failed = rollback_state(path)
    for line in reverted:
        progress(f"  state backstop reverted: {line}")
    for line in failed:
        progress(
            f"  state backstop FAILED: {line} (run: python -m experiments rollback --state {path})"
        )
    return tuple(reverted) + tuple(f"FAILED {line}" for line in failed)


def _passed(journal: Path) -> tuple[bool, str]:
    from experiments.outcome import build_outcome

    verdict = build_outcome(journal).verdict
    first = verdict.failures[0] if verdict.failures else None
    return verdict.passed, (f"{first.phase}: {first.subject}: {first.detail}" if first else "")


def run_catalog(
    deployment_file: str | Path,
    journals: str | Path,
    names: list[str] | None = None,
    progress: Callable[[str], None] = print,
    timeout_s: float = RUN_TIMEOUT_S,
    overrides: dict[str, Any] | None = None,
    extensions: list[dict[str, Any]] | None = None,
    escalate: bool = False,
    by_experiment: dict[str, dict[str, Any]] | None = None,
) -> list[RunResult]:
    """Render and run each experiment in turn; every journal lands in ``journals``.

    ``overrides`` are rendered into every configuration (the drill's load, ``--set``),
    ``by_experiment`` into one experiment's (the design peak's load);
    ``names`` are run in the order given (``escalation_order`` for ``--escalate``);
    with ``escalate`` the run stops after the first experiment the gate fails.
    """
    journals = Path(journals)
    rendered = journals / ".rendered"
    paths = render(deployment_file, rendered, names, overrides, extensions, by_experiment)
    results = []
    for index, experiment in enumerate(paths, 1):
        name = experiment.stem
        journal = journals / f"{name}.json"
        journal.unlink(missing_ok=True)
        journal.with_name(f"{name}.timeseries.json").unlink(missing_ok=True)  # no stale series
        alerts_path(journal).unlink(missing_ok=True)  # nor a timeline from an earlier drill
        progress(f"[{index}/{len(paths)}] {name}: running")
        started = time.monotonic()
        code = _run_one(
            chaos_argv(experiment, journal, rendered / VAR_FILE, journals / f"{name}.log"),
            timeout_s,
        )
        took = time.monotonic() - started
        outcome = "killed (timeout)" if code is None else f"chaos exit {code}"
        if not journal.exists():
            outcome += ", no journal written"
        progress(f"[{index}/{len(paths)}] {name}: {outcome} after {took:.1f} s")
        backstop = state_backstop(experiment, progress)
        passed = None
        if escalate:
            passed, why = _passed(journal) if journal.exists() else (False, "no journal")
            if not passed:
                progress(f"escalation stopped at {name} (blast radius {index}): {why}")
        results.append(RunResult(name, journal, code, took, passed, backstop))
        if passed is False:
            break
    return results
