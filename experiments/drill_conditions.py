"""The conditions a drill runs under: the load it sends and the Prometheus that watches.

Kept apart from ``experiments.drill`` (which sequences the steps) because both talk to
the running environment in-process: the capacity search sends closed-loop load through
the router, and the monitoring keeps a Prometheus and its target watcher alive for the
whole catalog, then writes each journal's alert timeline beside it for the gate.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from contracts.deployment import Slo
from experiments.capacity import (
    STEP_S,
    Capacity,
    load_configuration,
    open_loop_step,
    search_capacity,
)
from experiments.deployment import load_deployment
from experiments.design_peak import design_peak
from experiments.detection import expectations, sidecar_for, write_sidecar
from infra.local.monitoring import LocalMonitoring
from monitoring.alerts_client import PrometheusQueryError
from monitoring.local import AlertEpisode, prometheus_available

__all__ = [
    "LoadChoice",
    "Monitor",
    "load_line",
    "measure_capacity",
    "plan_load",
    "record_alerts",
    "settled_timeline",
    "start_monitoring",
]

RESOLVE_WAIT_S = 30.0
RESOLVE_POLL_S = 1.0
SETTLE_STEP_S = 2.0
Say = Callable[[str], None]


class Monitor(Protocol):
    """What the drill needs of a running Prometheus (``LocalMonitoring`` in production)."""

    @property
    def url(self) -> str: ...

    def wait_quiet(self, timeout_s: float = ...) -> float: ...

    def timeline(self, since: float, until: float | None = None) -> list[AlertEpisode]: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class LoadChoice:
    """The drill's load: ``fraction`` of the measured capacity, or ``rps`` as given; the
    experiments that lose capacity run at the design peak instead: ``peak_rps`` as given,
    else derived from the measured capacity and ``peak_topology`` (default: the running
    deployment's; the sensitivity matrix holds a weakened deployment to the healthy one's)."""

    fraction: float = 0.5
    rps: float | None = None
    step_s: float = STEP_S
    peak_rps: float | None = None
    peak_topology: Mapping[str, Any] | None = None
    replica_capacity_rps: float | None = None


def measure_capacity(deployment_file: Path, step_s: float, say: Say = print) -> Capacity:
    """Open-loop load through the deployment's router, within its SLO."""
    deployment = load_deployment(deployment_file)
    measure = open_loop_step(deployment["endpoint"], step_s)
    slo = Slo.from_json(deployment["slo"], deployment.get("platform", "local"))
    return search_capacity(measure, slo, progress=say)


def plan_load(
    choice: LoadChoice,
    measure: Callable[[float], Capacity],
    say: Say = print,
    topology: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The configuration every experiment's traffic is rendered with; says the load. With
    a ``topology``, ``design_peak_rps`` is the rate of the experiments that lose capacity."""
    if choice.rps is not None:
        say(f"load: {choice.rps:g} rps as given (capacity not measured)")
        planned: dict[str, Any] = load_configuration(choice.rps)
        capacity_rps = None
    else:
        capacity = measure(choice.step_s)
        rps = capacity.rps * choice.fraction
        say(
            f"load: {rps:.0f} rps = {choice.fraction:.0%} of {capacity.rps:.0f} rps capacity "
            f"(open loop, the highest rate within the {capacity.p99_budget_ms:g} ms p99 budget)"
        )
        planned, capacity_rps = load_configuration(rps, capacity.rps), capacity.rps
    if choice.peak_rps is not None:
        planned["design_peak_rps"] = choice.peak_rps
        planned["design_peak_note"] = f"design peak {choice.peak_rps:g} rps as given"
    elif capacity_rps is not None and (choice.peak_topology or topology):
        peak = design_peak(capacity_rps, choice.peak_topology or topology or {})
        planned["design_peak_rps"] = peak.rps
        planned["design_peak_note"] = peak.line()
        planned["replica_capacity_rps"] = peak.replica_capacity_rps
    if choice.replica_capacity_rps is not None:
        planned["replica_capacity_rps"] = choice.replica_capacity_rps
    if "design_peak_note" in planned:
        say(f"zone and replica experiments at the {planned['design_peak_note']}")
    return planned


def load_line(load: dict[str, Any]) -> str:
    """One line for the console and the summary: "N rps = 50% of C rps capacity (…)"."""
    share = load.get("load_fraction")
    of = f" = {share:.0%} of {load['capacity_rps']:g} rps capacity" if share else ""
    note = load.get("design_peak_note")
    peak = f"; zone and replica experiments at the {note}" if note else ""
    return (
        f"{load['load_rps']:g} rps{of} (windows {load['ssh_rate_rps']:g} rps, "
        f"recorder {load['recorder_rate_rps']:g} rps){peak}"
    )


def start_monitoring(deployment_file: Path, workdir: Path) -> Monitor | None:
    """A real Prometheus on the environment, or None when it is not installed."""
    if not prometheus_available():
        return None
    return LocalMonitoring.for_deployment(deployment_file, workdir).start()


def _epoch(stamp: Any) -> float | None:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return None


def _awaited(bodies: Iterable[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(alert, journal start, journal end) for every alert a journal expects to resolve."""
    out = []
    for body in bodies:
        start, end = _epoch(body.get("start")), _epoch(body.get("end"))
        spec = body.get("experiment")
        config = spec.get("configuration") if isinstance(spec, dict) else None
        if start is None or not isinstance(config, dict):
            continue
        for want in expectations(config):
            if want.resolve:
                out.append((want.alert, start, end or time.time()))
    return out


def _unresolved(episodes: list[AlertEpisode], awaited: list[tuple[str, float, float]]) -> bool:
    return any(
        e.alertname == name and e.resolved_at is None and start <= e.pending_at <= end
        for e in episodes
        for name, start, end in awaited
    )


def settled_timeline(
    monitor: Monitor,
    since: float,
    awaited: list[tuple[str, float, float]],
    wait_s: float = RESOLVE_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> list[AlertEpisode]:
    """The alert timeline once every ``awaited`` alert (one a journal expects to resolve,
    raised during it) has resolved, or after ``wait_s``: the gate judges the resolution
    from this timeline. Other alerts are not waited for: the load-failure alert's 2 m
    window, or the degraded ratio's 5 m one, outlast any drill's recovery, and waiting
    for all alerts to end cost the regional phase its whole 30 s every time."""
    waited = 0.0
    episodes = monitor.timeline(since)
    while _unresolved(episodes, awaited) and waited < wait_s:
        sleep(RESOLVE_POLL_S)
        waited += RESOLVE_POLL_S
        episodes = monitor.timeline(since)
    sleep(SETTLE_STEP_S)  # one more evaluation step, so the timeline sees the resolution
    return monitor.timeline(since)


def record_alerts(
    monitor: Monitor | None,
    since: float,
    journals: list[Path],
    not_checked: str,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Write each journal's alert timeline beside it (or why detection was not checked).
    A missing or unreadable journal gets nothing: the gate fails it by name. Returns what
    went wrong when Prometheus ran but its timeline could not be read (the drill fails)."""
    bodies: dict[Path, dict[str, Any]] = {}
    for journal in journals:
        with contextlib.suppress(OSError, ValueError):
            body = json.loads(journal.read_text())
            if isinstance(body, dict):
                bodies[journal] = body
    episodes: list[AlertEpisode] | None = None
    problem = None
    if monitor is not None:
        try:
            episodes = settled_timeline(monitor, since, _awaited(bodies.values()), sleep=sleep)
        except PrometheusQueryError as exc:
            problem = not_checked = f"the alert timeline could not be read: {exc}"
    for journal, body in bodies.items():
        start, end = _epoch(body.get("start")), _epoch(body.get("end"))
        if monitor is None or episodes is None or start is None:
            write_sidecar(journal, {"checked": False, "reason": not_checked})
        else:
            write_sidecar(journal, sidecar_for(episodes, start, end or time.time(), monitor.url))
    return problem
