"""Journal and time-series factories for the gate tests.

Every journal starts as a deep copy of ``clean.json``, a real journal written by
``chaos run`` (chaostoolkit 1.19 / lib 1.44) on ``experiment.json`` with the providers in
``drill_provider.py``; the mutators below reproduce, key for key, what chaoslib writes
in each failure case (see chaoslib/run.py, hypothesis.py, activity.py).
"""

from __future__ import annotations

import copy
import json
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
TEMPLATE = HERE / "clean.json"
EXPERIMENT = HERE / "experiment.json"
SECRET_TOKEN = "fixture-control-token-0123"

Journal = dict[str, Any]


def clean_journal() -> Journal:
    return copy.deepcopy(json.loads(TEMPLATE.read_text()))


def write_journal(
    directory: Path, journal: Any, name: str = "replica-loss", *, series: bool = True
) -> Path:
    """Write ``<name>.json`` as experiment ``name`` (its configuration's experiment_name,
    where it has one), with a healthy recorder series beside it unless ``series`` is false."""
    exp = journal.get("experiment") if isinstance(journal, dict) else None
    config = exp.get("configuration") if isinstance(exp, dict) else None
    if isinstance(config, dict) and "experiment_name" in config:
        config["experiment_name"] = name
    path = directory / f"{name}.json"
    path.write_text(json.dumps(journal, indent=2))
    if series:
        write_timeseries(path, make_timeseries(journal, breach=None))
    return path


def exception_lines(message: str) -> list[str]:
    """What chaoslib stores: traceback.format_exception(type(x), x, None)."""
    from chaoslib.exceptions import ActivityFailed

    exc = ActivityFailed(message)
    return traceback.format_exception(type(exc), exc, None)


def _fail_probe(state: dict[str, Any], output: Any = 0.5) -> dict[str, Any]:
    """A hypothesis state whose first probe ran but missed its tolerance (chaoslib stops there)."""
    first = copy.deepcopy(state["probes"][0])
    first["output"] = output
    first["tolerance_met"] = False
    return {"steady_state_met": False, "probes": [first]}


def status(value: Any) -> Callable[[Journal], None]:
    def mutate(j: Journal) -> None:
        j["status"] = value

    return mutate


def deviated(j: Journal) -> None:
    j["deviated"] = True


def before_failed_method_skipped(j: Journal) -> None:
    """chaos run exits 0 here: status completed, not deviated, method and after skipped."""
    j["steady_states"]["before"] = _fail_probe(j["steady_states"]["before"])
    j["steady_states"]["during"] = []
    j["steady_states"]["after"] = None
    j["run"] = []
    j["rollbacks"] = []


def before_probe_errored(j: Journal) -> None:
    state = j["steady_states"]["before"]
    probe = copy.deepcopy(state["probes"][0])
    probe.update(
        status="failed",
        output=None,
        tolerance_met=False,
        exception=exception_lines("router at 127.0.0.1:1 refused the connection"),
    )
    j["steady_states"]["before"] = {"steady_state_met": False, "probes": [probe]}
    j["status"] = "failed"


def during_failed(j: Journal) -> None:
    """Without --fail-fast chaos run still exits 0."""
    during = j["steady_states"]["during"]
    during[-1] = _fail_probe(during[-1], output=0.91)


def after_failed(j: Journal) -> None:
    j["steady_states"]["after"] = _fail_probe(j["steady_states"]["after"], output=0.42)
    j["deviated"] = True


def after_not_run(j: Journal) -> None:
    j["steady_states"]["after"] = None


def method_action_failed(j: Journal) -> None:
    """chaos run exits 0 when a method action fails."""
    run = j["run"][1]
    run["status"] = "failed"
    run["output"] = None
    run["exception"] = exception_lines("no replica to kill in zone local-a")


def fewer_activities(j: Journal) -> None:
    j["run"] = j["run"][:2]


def rollback_failed(j: Journal) -> None:
    run = j["rollbacks"][0]
    run["status"] = "failed"
    run["exception"] = exception_lines("zone local-a did not come back")


def fewer_rollbacks(j: Journal) -> None:
    """What a tripped safeguard does: rollbacks skipped."""
    j["rollbacks"] = []


def no_hypothesis(j: Journal) -> None:
    del j["experiment"]["steady-state-hypothesis"]
    j["steady_states"] = {"before": None, "after": None, "during": []}


def empty_probes(j: Journal) -> None:
    j["experiment"]["steady-state-hypothesis"]["probes"] = []
    j["steady_states"] = {"before": None, "after": None, "during": []}


def fewer_probes_ran(j: Journal) -> None:
    j["steady_states"]["after"]["probes"] = j["steady_states"]["after"]["probes"][:1]


def during_empty(j: Journal) -> None:
    """The continuous strategy was declared but no during check was recorded."""
    j["steady_states"]["during"] = []


def during_stopped_early(j: Journal) -> None:
    """The checks stopped while the method went on for 10 s more."""
    last = j["run"][-1]
    last["end"] = datetime.fromtimestamp(epoch(last["end"]) + 10.0).astimezone().isoformat()


def not_continuous(j: Journal) -> None:
    del j["experiment"]["runtime"]


def fault_run_replaced_by_copy(j: Journal) -> None:
    """The fault action's run swapped for a copy of the (succeeded) recorder run."""
    j["run"][1] = copy.deepcopy(j["run"][0])


def method_empty(j: Journal) -> None:
    j["experiment"]["method"] = []
    j["run"] = []


def method_without_fault(j: Journal) -> None:
    """Only the background recorder and a probe: nothing injected."""
    del j["experiment"]["method"][1]
    del j["run"][1]


def no_identity(j: Journal) -> None:
    j["experiment"]["title"] = "an experiment"
    del j["experiment"]["configuration"]["experiment_name"]


def no_experiment(j: Journal) -> None:
    del j["experiment"]


def run_not_a_list(j: Journal) -> None:
    j["run"] = {"oops": True}


def steady_states_not_object(j: Journal) -> None:
    j["steady_states"] = ["before"]


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def fault_start(journal: Journal) -> float:
    """Epoch of the first non-background method action (the fault), else of the journal."""
    runs = journal.get("run") if isinstance(journal, dict) else None
    runs = runs if isinstance(runs, list) else []
    starts = [
        epoch(r["start"])
        for r in runs
        if isinstance(r, dict)
        and r["activity"]["type"] == "action"
        and not r["activity"].get("background")
    ]
    if starts:
        return min(starts)
    stamp = journal.get("start") if isinstance(journal, dict) else None
    return epoch(stamp) if isinstance(stamp, str) else 0.0


def make_timeseries(
    journal: Journal,
    *,
    lead_s: float = 2.0,
    length_s: float = 8.0,
    interval_s: float = 0.1,
    breach: tuple[float, float] | None = (0.3, 1.5),
    breach_kind: str = "errors",
    requests: int = 20,
) -> dict[str, Any]:
    """A recorder series starting ``lead_s`` before the fault; SLO breached over ``breach``
    (seconds after the fault start, end exclusive; end None = never recovers)."""
    started = fault_start(journal) - lead_s
    samples = []
    for i in range(round(length_s / interval_s)):
        t = round(i * interval_s, 6)
        since_fault = t - lead_s
        bad = (
            breach is not None
            and since_fault >= breach[0] - 1e-9
            and (breach[1] is None or since_fault < breach[1] - 1e-9)
        )
        sample = {"t": t, "requests": requests, "errors": 0, "degraded": 0, "p99_ms": 20.0}
        if bad and breach_kind == "errors":
            sample["errors"] = 3
        elif bad and breach_kind == "degraded":
            sample["degraded"] = requests // 2
        elif bad and breach_kind == "p99":
            sample["p99_ms"] = 900.0
        samples.append(sample)
    return {
        "experiment": "replica-loss",
        "interval_s": interval_s,
        "started": started,
        "samples": samples,
    }


def write_timeseries(journal_path: Path, series: dict[str, Any]) -> Path:
    path = journal_path.with_name(journal_path.name[: -len(".json")] + ".timeseries.json")
    path.write_text(json.dumps(series))
    return path
