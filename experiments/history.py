"""Drill history: each drill's journals and summary figures, kept to compare drills.

Layout: ``<history>/<UTC stamp>/journals/`` (the journals and recorder series, copied)
and ``<history>/<UTC stamp>/figures.json`` (per experiment: passed, recovery time, p99,
availability, degraded ratio and each margin's level). Stamps sort by time, so the last
directory is the latest drill. Only the newest ``KEEP`` drills are kept.

A regression is a figure that got worse than in the previous drill by more than noise:
recovery time up by more than ``GROWTH`` (25%) and ``MIN_RECOVERY_STEP_S``, p99 up by more
than ``GROWTH`` and ``MIN_P99_STEP_MS``, a margin's level worse (ok → thin → breached), or
a pass turned into a fail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments.findings import Finding, rule_for
from experiments.report_margins import LEVELS, ExperimentRow

KEEP = 20
GROWTH = 0.25
MIN_RECOVERY_STEP_S = 1.0
MIN_P99_STEP_MS = 10.0
FIGURES = "figures.json"
_RANK = {"ok": 0, "thin": 1, "breached": 2}


class HistoryError(Exception):
    """The history directory cannot be read or written."""


@dataclass(frozen=True)
class DrillRecord:
    """One past drill: its stamp, journal directory and figures per experiment."""

    stamp: str
    journals: Path
    experiments: dict[str, dict[str, Any]]
    expected: tuple[str, ...] = ()

    def journal_paths(self) -> list[Path]:
        """The drill's journals: every expected one (a missing one fails in the gate), or
        whatever the directory holds for drills that did not record what they expected."""
        if self.expected:
            return [self.journals / f"{name}.json" for name in self.expected]
        return sorted(
            p
            for p in self.journals.glob("*.json")
            if not p.name.endswith((".timeseries.json", ".alerts.json"))
        )


def figures(row: ExperimentRow) -> dict[str, Any]:
    """What a drill keeps of one experiment: plain JSON numbers and levels."""
    margins = {m.metric: m for m in (*row.margins, row.recovery)}
    return {
        "passed": row.passed,
        "recovery_s": row.recovery.value,
        "p99_ms": margins["p99"].value,
        "availability": margins["availability"].value,
        "degraded_ratio": margins["degraded"].value,
        "levels": {name: m.level for name, m in margins.items()},
        "margins": {name: m.text for name, m in margins.items()},
    }


def _new_stamp(history: Path) -> str:
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stamp, n = base, 1
    while (history / stamp).exists():
        stamp, n = f"{base}-{n}", n + 1
    return stamp


def archive(
    history: Path,
    journals: Path,
    rows: Sequence[ExperimentRow],
    keep: int = KEEP,
    expected: Sequence[str] = (),
) -> Path:
    """Copy a drill's journals and write its figures (last, so a half-copied drill has none)."""
    try:
        history.mkdir(parents=True, exist_ok=True)
        target = history / _new_stamp(history)
        (target / "journals").mkdir(parents=True)
        for path in journals.glob("*.json"):  # journals and series; not logs or renders
            shutil.copy2(path, target / "journals" / path.name)
        body = {
            "created": datetime.now(UTC).isoformat(),
            "expected": list(expected),
            "experiments": {row.experiment: figures(row) for row in rows},
        }
        (target / FIGURES).write_text(json.dumps(body, indent=2, sort_keys=True))
    except OSError as exc:
        raise HistoryError(f"cannot archive the drill into {history}: {exc}") from None
    for old in _drill_dirs(history)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _drill_dirs(history: Path) -> list[Path]:
    return sorted(p for p in history.iterdir() if p.is_dir() and (p / FIGURES).is_file())


def _read(directory: Path) -> DrillRecord | None:
    try:
        data = json.loads((directory / FIGURES).read_text())
    except (OSError, ValueError):
        return None
    experiments = data.get("experiments") if isinstance(data, dict) else None
    if not isinstance(experiments, dict):
        return None
    kept = {str(k): v for k, v in experiments.items() if isinstance(v, dict)}
    expected = data.get("expected") if isinstance(data.get("expected"), list) else []
    names = tuple(str(n) for n in expected if isinstance(n, str) and "/" not in n and n)
    return DrillRecord(directory.name, directory / "journals", kept, names)


def load_history(history: Path) -> list[DrillRecord]:
    """Past drills, oldest first; unreadable entries are skipped."""
    if not history.is_dir():
        raise HistoryError(f"history directory {history} does not exist")
    records = [_read(d) for d in _drill_dirs(history)]
    return [r for r in records if r is not None]


def _num(figs: dict[str, Any], key: str) -> float | None:
    value = figs.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _grew(before: float, after: float, min_step: float) -> bool:
    return after - before >= min_step and after > before * (1 + GROWTH)


def _level(figs: dict[str, Any], metric: str) -> str:
    levels = figs.get("levels") if isinstance(figs.get("levels"), dict) else {}
    level = levels.get(metric)
    return level if level in LEVELS else "unknown"


def regressions(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """What got worse in ``after`` than in ``before``: figure name → what changed."""
    worse: dict[str, str] = {}
    if before.get("passed") is True and after.get("passed") is False:
        worse["verdict"] = "passed before, fails now"
    rec_before, rec_after = _num(before, "recovery_s"), _num(after, "recovery_s")
    if rec_before is not None and rec_after is None and _level(after, "recovery") == "breached":
        worse["recovery"] = f"recovered in {rec_before:.1f} s before, not recovered now"
    elif (
        rec_before is not None
        and rec_after is not None
        and _grew(rec_before, rec_after, MIN_RECOVERY_STEP_S)
    ):
        worse["recovery"] = f"recovery time {rec_before:.1f} s → {rec_after:.1f} s"
    p99_before, p99_after = _num(before, "p99_ms"), _num(after, "p99_ms")
    if (
        p99_before is not None
        and p99_after is not None
        and _grew(p99_before, p99_after, MIN_P99_STEP_MS)
    ):
        worse["p99"] = f"p99 {p99_before:.0f} ms → {p99_after:.0f} ms"
    for metric in ("availability", "degraded"):
        was, now = _level(before, metric), _level(after, metric)
        if was in _RANK and now in _RANK and _RANK[now] > _RANK[was]:
            worse[metric] = f"{metric} margin {was} → {now}"
    return worse


def compare(experiment: str, before: dict[str, Any], after: dict[str, Any], ref: str) -> list[str]:
    """What got worse in ``after`` than in ``before``, one line per figure."""
    return [f"{line} (vs drill {ref})" for line in regressions(before, after).values()]


def regression_findings(records: Sequence[DrillRecord]) -> list[Finding]:
    """The latest drill against the one before it."""
    if len(records) < 2:
        return []
    previous, latest = records[-2], records[-1]
    rule = rule_for("regression")
    found = []
    for name, after in sorted(latest.experiments.items()):
        before = previous.experiments.get(name)
        if before is None:
            continue
        for line in compare(name, before, after, previous.stamp):
            found.append(Finding(name, rule.kind, "amber", rule.seen, line, "trends"))
    return found
