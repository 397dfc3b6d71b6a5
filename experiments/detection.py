"""Was the disaster noticed? Each experiment's expected alerts against what Prometheus saw.

A drill that passes while no alert fired has shown that users would suffer in silence.
Each catalog module declares ``ALERTS`` (which alert must fire during its fault, how
fast, and whether it must resolve after recovery) or ``NO_ALERT`` (why none is expected);
rendering records them in the configuration as ``expected_alerts``, so the journal
carries the promise. The drill writes what Prometheus saw next to the journal as
``<name>.alerts.json``; the gate judges the two together here. Without that file (no
Prometheus) detection is "not checked", said plainly, never passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.journal import Failure
from experiments.timeseries import fault_window
from monitoring.alerts_client import AlertEpisode

__all__ = [
    "CONFIG_KEY",
    "Detection",
    "ExpectedAlert",
    "alerts_path",
    "declare_alerts",
    "judge_detection",
    "load_sidecar",
    "sidecar_for",
    "write_sidecar",
]

CONFIG_KEY = "expected_alerts"
NOT_CHECKED_KEY = "no_alert_reason"
_SUFFIX = ".alerts.json"


@dataclass(frozen=True)
class ExpectedAlert:
    """``alert`` must fire within ``within_s`` of the fault's start and, when ``resolve``
    is set, resolve within ``resolve_within_s`` of the fault's end (the recovery)."""

    alert: str
    within_s: float
    resolve: bool = True
    resolve_within_s: float = 90.0

    def to_json(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "within_s": self.within_s,
            "resolve": self.resolve,
            "resolve_within_s": self.resolve_within_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpectedAlert:
        return cls(
            str(data["alert"]),
            float(data["within_s"]),
            bool(data.get("resolve", True)),
            float(data.get("resolve_within_s", 90.0)),
        )


@dataclass
class Detection:
    """What the gate concluded about one experiment's alerts (the report shows it)."""

    checked: bool
    reason: str = ""
    detected_s: float | None = None
    lines: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def text(self) -> str:
        if not self.checked:
            return "not checked"
        if self.detected_s is not None:
            return f"{self.detected_s:.1f} s"
        return "none expected" if not self.failures else "not detected"


def alerts_path(journal: Path) -> Path:
    return journal.with_name(f"{journal.stem}{_SUFFIX}")


def episode_json(episode: AlertEpisode) -> dict[str, Any]:
    return {
        "alert": episode.alertname,
        "labels": dict(episode.labels),
        "pending_at": episode.pending_at,
        "fired_at": episode.fired_at,
        "resolved_at": episode.resolved_at,
    }


def sidecar_for(
    episodes: Iterable[AlertEpisode], start: float, end: float, source: str
) -> dict[str, Any]:
    """The episodes that began while one experiment ran (``start``..``end``, epoch s);
    ones already pending before it belong to an earlier experiment."""
    mine = [episode_json(e) for e in episodes if start <= e.pending_at <= end]
    return {"checked": True, "source": source, "start": start, "end": end, "episodes": mine}


def write_sidecar(journal: Path, body: Mapping[str, Any]) -> Path:
    path = alerts_path(journal)
    path.write_text(json.dumps(body, indent=1))
    return path


def load_sidecar(journal: Path) -> dict[str, Any] | None:
    """The alerts file next to ``journal``; None when absent, unreadable or malformed
    (all three mean detection was not checked)."""
    path = alerts_path(journal)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _episodes(sidecar: Mapping[str, Any]) -> list[AlertEpisode]:
    out = []
    for e in sidecar.get("episodes") or []:
        if isinstance(e, dict) and isinstance(e.get("pending_at"), int | float):
            out.append(
                AlertEpisode(
                    str(e.get("alert", "")),
                    dict(e.get("labels") or {}),
                    float(e["pending_at"]),
                    e.get("fired_at"),
                    e.get("resolved_at"),
                )
            )
    return out


def expectations(config: Mapping[str, Any]) -> list[ExpectedAlert]:
    raw = config.get(CONFIG_KEY)
    return [ExpectedAlert.from_json(a) for a in raw if isinstance(a, dict)] if raw else []


def judge_detection(
    name: str, journal: Mapping[str, Any] | None, sidecar: Mapping[str, Any] | None
) -> Detection:
    """Judge ``journal``'s expected alerts against the episodes in ``sidecar``."""
    if sidecar is None or not sidecar.get("checked"):
        reason = (sidecar or {}).get("reason") or "no alert timeline beside the journal"
        return Detection(False, str(reason))
    spec = (journal or {}).get("experiment")
    config = spec.get("configuration") if isinstance(spec, dict) else None
    wanted = expectations(config if isinstance(config, dict) else {})
    if not wanted:
        why = (config or {}).get(NOT_CHECKED_KEY) or "the experiment expects no alert"
        return Detection(True, str(why))
    window = fault_window(dict(journal or {}), 0.0)
    if window is None:
        failure = Failure(name, "detection", "fault window", "no fault action ran")
        return Detection(True, "no fault window", failures=[failure])
    return _judge(name, wanted, _episodes(sidecar), window)


def _judge(
    name: str, wanted: Sequence[ExpectedAlert], episodes: list[AlertEpisode], window: tuple
) -> Detection:
    fault_start, fault_end = window
    result = Detection(True)
    for want in wanted:
        fired = [
            e
            for e in episodes
            if e.alertname == want.alert and e.fired_at is not None and e.fired_at >= fault_start
        ]
        if not fired:
            detail = f"never fired within {want.within_s:g} s of the fault"
            result.failures.append(Failure(name, "detection", want.alert, detail))
            continue
        first = min(fired, key=lambda e: e.fired_at or 0.0)
        took = float(first.fired_at or 0.0) - fault_start
        result.lines.append(f"{want.alert} fired {took:.1f} s after the fault started")
        if took > want.within_s:
            detail = f"fired {took:.1f} s after the fault, later than {want.within_s:g} s"
            result.failures.append(Failure(name, "detection", want.alert, detail))
        elif result.detected_s is None or took < result.detected_s:
            result.detected_s = took
        if want.resolve:
            _check_resolved(name, want, fired, fault_end, result)
    return result


def _check_resolved(
    name: str, want: ExpectedAlert, fired: list[AlertEpisode], fault_end: float, result: Detection
) -> None:
    """Every episode the fault raised must end within ``resolve_within_s`` of the fault's end."""
    deadline = fault_end + want.resolve_within_s
    late = [e for e in fired if e.resolved_at is None or e.resolved_at > deadline]
    if late:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(late[0].labels.items()))
        detail = (
            f"still firing {want.resolve_within_s:g} s after the fault ended ({labels})"
            if late[0].resolved_at is None
            else f"resolved {late[0].resolved_at - fault_end:.1f} s after the fault ended, "
            f"later than {want.resolve_within_s:g} s ({labels})"
        )
        result.failures.append(Failure(name, "detection", f"{want.alert} resolved", detail))
    else:
        last = max(float(e.resolved_at or 0.0) for e in fired)
        result.lines.append(f"{want.alert} resolved {last - fault_end:.1f} s after the fault ended")


def declare_alerts(configuration: dict[str, Any], module: object) -> None:
    """Record a catalog module's ``ALERTS`` (or its ``NO_ALERT`` reason) in the
    configuration, so the journal carries what the gate will hold the run to."""
    wanted: Sequence[ExpectedAlert] = getattr(module, "ALERTS", ())
    configuration[CONFIG_KEY] = [a.to_json() for a in wanted]
    if not wanted:
        configuration[NOT_CHECKED_KEY] = getattr(module, "NO_ALERT", "none declared")
