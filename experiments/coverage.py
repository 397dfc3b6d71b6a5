"""What the gate demands beyond chaoslib's own statuses: identity, activity names, coverage.

chaoslib records what ran, but never checks that it is what was declared: a journal
whose fault action's run was replaced by a copy of another run, a ``method: []``, a
journal copied under another experiment's file name, or a continuous hypothesis that
stopped checking half-way all look "completed". These checks read only the journal.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

DEFAULT_FREQUENCY_S = 1.0  # what experiments.runner passes as --hypothesis-frequency
MIN_SLACK_S = 1.0
SLACK_FRACTION = 0.25
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return default
    return float(value)


def epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of a journal's ISO timestamp, or None if it is not one."""
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def experiment_identity(experiment: dict[str, Any]) -> str | None:
    """Which catalog experiment the journal says it ran, from the journal itself.

    The rendered catalog writes ``configuration.experiment_name``; a hand-written
    experiment may instead start its title with ``"<name>: "``.
    """
    config = experiment.get("configuration")
    if isinstance(config, dict) and isinstance(config.get("experiment_name"), str):
        return config["experiment_name"]
    title = experiment.get("title")
    if isinstance(title, str) and ":" in title:
        head = title.split(":", 1)[0].strip()
        if _NAME.match(head):
            return head
    return None


def run_name(run: dict[str, Any]) -> str | None:
    activity = run.get("activity")
    name = activity.get("name") if isinstance(activity, dict) else None
    return name if isinstance(name, str) else None


def declared_name(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    name = entry.get("ref") if "ref" in entry else entry.get("name")
    return name if isinstance(name, str) else None


def name_mismatch(declared: list[Any], runs: list[dict[str, Any]]) -> str | None:
    """Why the runs are not the declared activities (compared by name, as multisets)."""
    want = Counter(declared_name(d) or "<unnamed>" for d in declared)
    got = Counter(run_name(r) or "<unnamed>" for r in runs)
    if want == got:
        return None
    parts = [f"{sum(got.values())} of {sum(want.values())} declared activities ran"]
    missing = sorted((want - got).elements())
    extra = sorted((got - want).elements())
    if missing:
        parts.append(f"not run: {', '.join(missing)}")
    if extra:
        parts.append(f"ran but not declared: {', '.join(extra)}")
    return "; ".join(parts)


def _lookup(experiment: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The activity a ``ref`` points at, searched where chaoslib searches."""
    hypothesis = experiment.get("steady-state-hypothesis")
    pools = [
        experiment.get("method"),
        hypothesis.get("probes") if isinstance(hypothesis, dict) else None,
        experiment.get("rollbacks"),
    ]
    for pool in pools:
        for entry in pool if isinstance(pool, list) else []:
            if isinstance(entry, dict) and "ref" not in entry and entry.get("name") == name:
                return entry
    return None


def fault_actions(experiment: dict[str, Any]) -> list[str]:
    """Names of the method's foreground actions: what the experiment injects."""
    method = experiment.get("method")
    found = []
    for entry in method if isinstance(method, list) else []:
        if isinstance(entry, dict) and "ref" in entry:
            entry = _lookup(experiment, str(entry["ref"])) or {}
        is_action = isinstance(entry, dict) and entry.get("type") == "action"
        if is_action and not entry.get("background"):
            found.append(str(entry.get("name")))
    return found


def declares_continuous(experiment: dict[str, Any]) -> bool:
    runtime = experiment.get("runtime")
    hypothesis = runtime.get("hypothesis") if isinstance(runtime, dict) else None
    strategy = hypothesis.get("strategy") if isinstance(hypothesis, dict) else None
    return strategy == "continuously"


@dataclass(frozen=True)
class Cadence:
    """How often the continuous hypothesis must have started a check."""

    window_s: float
    frequency_s: float
    slack_s: float

    @property
    def max_gap_s(self) -> float:
        return self.window_s + self.frequency_s + self.slack_s

    def describe(self) -> str:
        return (
            f"{self.max_gap_s:.1f} s allowed (window {self.window_s:.1f} s + frequency "
            f"{self.frequency_s:g} s + slack {self.slack_s:.1f} s)"
        )


def check_duration(state: Any) -> float | None:
    probes = state.get("probes") if isinstance(state, dict) else None
    runs = [p for p in probes or [] if isinstance(p, dict)]
    starts = [t for t in (epoch(p.get("start")) for p in runs) if t is not None]
    ends = [t for t in (epoch(p.get("end")) for p in runs) if t is not None]
    return max(ends) - min(starts) if starts and ends else None


def cadence(experiment: dict[str, Any], during: list[Any] | None = None) -> Cadence:
    """The rhythm: one check's window, then ``frequency`` seconds' wait.

    The window is the declared SLO window (``ssh_window_s``), or the median check's
    duration when checks hold more than that (a quality replay); the median, so one
    hung check cannot widen the allowance. The slack allows one request timeout (a
    window waits for its last requests) and a quarter of the period, at least 1 s.
    """
    config = experiment.get("configuration")
    config = config if isinstance(config, dict) else {}
    runtime = experiment.get("runtime")
    hypothesis = runtime.get("hypothesis") if isinstance(runtime, dict) else None
    declared = hypothesis.get("frequency") if isinstance(hypothesis, dict) else None
    frequency = _number(declared, DEFAULT_FREQUENCY_S)
    window = _number(config.get("ssh_window_s"), 0.0)
    durations = sorted(d for d in (check_duration(x) for x in during or []) if d is not None)
    if durations:
        window = max(window, durations[len(durations) // 2])
    timeout = _number(config.get("request_timeout_s"), 0.0)
    slack = timeout + max(MIN_SLACK_S, SLACK_FRACTION * (window + frequency))
    return Cadence(window, frequency, slack)


def method_span(runs: list[dict[str, Any]]) -> tuple[float, float] | None:
    """From the first method run's start to the last one's end (background ones included)."""
    starts = [t for t in (epoch(r.get("start")) for r in runs) if t is not None]
    ends = [t for t in (epoch(r.get("end")) for r in runs) if t is not None]
    if not starts:
        return None
    return min(starts), max(ends + starts)


def check_start(state: Any) -> float | None:
    probes = state.get("probes") if isinstance(state, dict) else None
    times = [epoch(p.get("start")) for p in probes or [] if isinstance(p, dict)]
    times = [t for t in times if t is not None]
    return min(times) if times else None


def coverage_gap(during: list[Any], runs: list[dict[str, Any]], rhythm: Cadence) -> str | None:
    """Why the during checks did not cover the method, or None if they did."""
    span = method_span(runs)
    if span is None:
        return None
    begin, end = span
    starts = sorted(t for t in (check_start(s) for s in during) if t is not None)
    if not starts:
        return (
            f"no during-method check ran over the method's {end - begin:.1f} s "
            f"although the experiment declares the continuous strategy; {rhythm.describe()}"
        )
    marks = [begin, *[t for t in starts if begin < t < end], end]
    gaps = [(b - a, a, b) for a, b in pairwise(marks)]
    longest, since, until = max(gaps)
    if longest <= rhythm.max_gap_s:
        return None
    return (
        f"no during-method check for {longest:.1f} s (from +{since - begin:.1f} s to "
        f"+{until - begin:.1f} s of the method's {end - begin:.1f} s); {rhythm.describe()}"
    )
