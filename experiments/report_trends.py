"""The report's trends: each experiment's recovery time, p99 and margins over past drills."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from experiments.history import DrillRecord, compare, regressions
from experiments.report_detail import esc

LAST_N = 8
_FIGURES = (
    ("recovery", "recovery_s", lambda v: f"{v:.1f} s"),
    ("p99", "p99_ms", lambda v: f"{v:.0f} ms"),
    ("availability", "availability", lambda v: f"{v * 100:.2f}%"),
)


def _cell(figs: dict[str, Any] | None, metric: str, key: str, fmt, worse: bool = False) -> str:
    if figs is None:
        return "<td class='unknown'>—</td>"
    levels = figs.get("levels") if isinstance(figs.get("levels"), dict) else {}
    level = levels.get(metric, "unknown")
    value = figs.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = fmt(value)
    elif metric == "recovery" and level == "breached":
        text = "not recovered"
    else:
        text = "—"
    if worse:
        return f"<td class='{esc(level)} regressed'>{esc(text)} ▲ worse</td>"
    return f"<td class='{esc(level)}'>{esc(text)}</td>"


def _label(stamp: str) -> str:
    """``20261201T142800Z`` as ``12-01 14:28``."""
    if len(stamp) >= 15 and stamp[8] == "T":
        return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return stamp


def trends_html(records: Sequence[DrillRecord], last_n: int = LAST_N) -> str:
    """One row per experiment and figure, one column per drill (newest last), regressions
    against the previous drill listed under the table."""
    shown = list(records)[-last_n:]
    if len(shown) < 2:
        return (
            "<p class='note'>No earlier drill in the history yet: trends appear from the "
            "second drill on.</p>"
        )
    names = sorted({name for r in shown for name in r.experiments})
    head = "".join(f"<th>{esc(_label(r.stamp))}</th>" for r in shown)
    rows = []
    previous, latest = shown[-2], shown[-1]
    for name in names:
        before, after = previous.experiments.get(name), latest.experiments.get(name)
        worse = regressions(before, after) if before and after else {}
        for metric, key, fmt in _FIGURES:
            cells = "".join(_cell(r.experiments.get(name), metric, key, fmt) for r in shown[:-1])
            cells += _cell(after, metric, key, fmt, metric in worse)
            rows.append(f"<tr><td>{esc(name)}</td><td>{esc(metric)}</td>{cells}</tr>")
    table = (
        f"<table class='trends'><thead><tr><th>experiment</th><th>figure</th>{head}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    worse_lines = [
        f"<li><b>{esc(name)}</b>: {esc(line)}</li>"
        for name in names
        if name in previous.experiments and name in latest.experiments
        for line in compare(
            name, previous.experiments[name], latest.experiments[name], previous.stamp
        )
    ]
    flagged = (
        f"<h3>Regressions against the previous drill</h3><ul>{''.join(worse_lines)}</ul>"
        if worse_lines
        else "<p class='ok'>No regression against the previous drill.</p>"
    )
    return f"<p>The last {len(shown)} drills, oldest first.</p>{table}{flagged}"
