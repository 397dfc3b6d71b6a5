"""The drill report: one self-contained HTML file (plots embedded as base64 PNG data URIs).

Journals are untrusted input, so every piece of journal text goes through ``html.escape``
and secret-looking arguments are masked before they are shown.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from experiments.gate_outputs import fmt_ms, fmt_ratio, fmt_recovery
from experiments.journal import activity_name, exception_text, secret_values, summarize
from experiments.outcome import Outcome
from experiments.plots import timeseries_png

MAX_DURING_ROWS = 60

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3} code{font-size:.85em;word-break:break-all}
.pass{color:#1b7f3b;font-weight:bold} .fail{color:#b3261e;font-weight:bold}
section{border-top:2px solid #ddd;margin-top:2em} img{max-width:100%}
.note{color:#8a5a00}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _met(value: Any) -> str:
    if value is True:
        return '<span class="pass">yes</span>'
    return f'<span class="fail">{"no" if value is False else _e(value)}</span>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows hold already-escaped HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _probe_rows(state: Any, label: str, secrets: set[str]) -> list[list[str]]:
    if not isinstance(state, dict):
        return [[_e(label), "—", "—", "not run", _met(False)]]
    runs = state.get("probes") if isinstance(state.get("probes"), list) else []
    rows = []
    for run in (r for r in runs if isinstance(r, dict)):
        activity = run.get("activity") if isinstance(run.get("activity"), dict) else {}
        value = f"<code>{_e(summarize(run.get('output'), secrets, 200))}</code>"
        exc = exception_text(run, secrets)
        if exc:
            value += f"<br><span class='fail'>{_e(exc)}</span>"
        tolerance = _e(summarize(activity.get("tolerance"), secrets, 120))
        met = run.get("tolerance_met") if run.get("status") == "succeeded" else False
        rows.append(
            [_e(label), _e(activity_name(run)), f"<code>{tolerance}</code>", value, _met(met)]
        )
    if not rows:
        rows.append([_e(label), "—", "—", "no probes ran", _met(state.get("steady_state_met"))])
    return rows


def hypothesis_html(outcome: Outcome) -> str:
    """The steady-state hypothesis before, during and after the method."""
    journal = outcome.verdict.journal or {}
    secrets = secret_values(outcome.verdict.experiment_spec)
    states = journal.get("steady_states") if isinstance(journal.get("steady_states"), dict) else {}
    rows = _probe_rows(states.get("before"), "before", secrets)
    during = states.get("during") if isinstance(states.get("during"), list) else []
    for i, state in enumerate(during[:MAX_DURING_ROWS]):
        rows += _probe_rows(state, f"during #{i + 1}", secrets)
    note = ""
    if len(during) > MAX_DURING_ROWS:
        note = f"<p class='note'>{len(during) - MAX_DURING_ROWS} more during checks omitted.</p>"
    rows += _probe_rows(states.get("after"), "after", secrets)
    return _table(["phase", "probe", "tolerance", "value / output", "met?"], rows) + note


def _provider(activity: dict[str, Any]) -> str:
    provider = activity.get("provider") if isinstance(activity.get("provider"), dict) else {}
    if provider.get("type") == "python":
        return f"{provider.get('module')}.{provider.get('func')}"
    if provider.get("type") == "http":
        return f"http {provider.get('method', 'GET')} {provider.get('url')}"
    return str(provider.get("type") or activity.get("ref") or "—")


def _arguments(activity: dict[str, Any]) -> Any:
    provider = activity.get("provider") if isinstance(activity.get("provider"), dict) else {}
    return provider.get("arguments", {})


def activities_html(outcome: Outcome, key: str) -> str:
    """What the method injected (or the rollbacks undid): runs with redacted arguments."""
    journal = outcome.verdict.journal or {}
    secrets = secret_values(outcome.verdict.experiment_spec)
    runs = journal.get(key) if isinstance(journal.get(key), list) else []
    rows = []
    for run in (r for r in runs if isinstance(r, dict)):
        activity = run.get("activity") if isinstance(run.get("activity"), dict) else {}
        kind = str(activity.get("type", "?")) + (
            " (background)" if activity.get("background") else ""
        )
        status = run.get("status")
        detail = _e(summarize(run.get("output"), secrets, 160))
        exc = exception_text(run, secrets)
        if exc:
            detail += f"<br><span class='fail'>{_e(exc)}</span>"
        rows.append(
            [
                _e(activity_name(run)),
                _e(kind),
                f"<code>{_e(_provider(activity))}</code>",
                f"<code>{_e(summarize(_arguments(activity), secrets, 300))}</code>",
                _met(True) if status == "succeeded" else _met(status),
                _e(run.get("start", "")),
                detail,
            ]
        )
    if not rows:
        return "<p class='note'>No activities ran.</p>"
    return _table(
        ["activity", "type", "provider", "arguments", "succeeded?", "start", "output"], rows
    )


def plot_html(outcome: Outcome) -> str:
    """The recorder's series as an embedded PNG, or a note that it is missing."""
    if outcome.series is None or outcome.analysis is None:
        return f"<p class='note'>Time series missing: {_e(outcome.series_problem)}</p>"
    if not outcome.series.samples:
        return "<p class='note'>Time series has no samples.</p>"
    png = timeseries_png(outcome.series, outcome.analysis, outcome.slo, outcome.verdict.experiment)
    data = base64.b64encode(png).decode("ascii")
    alt = _e(f"time series of {outcome.verdict.experiment}")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}">'


def experiment_html(outcome: Outcome) -> str:
    verdict = outcome.verdict
    a = outcome.analysis
    badge = '<span class="pass">PASS</span>' if verdict.passed else '<span class="fail">FAIL</span>'
    slo = outcome.slo
    facts = _table(
        [
            "availability",
            "p99",
            "degraded",
            "recovery time",
            "SLO (from " + outcome.slo_origin + ")",
        ],
        [
            [
                _e(fmt_ratio(a.availability if a else None)),
                _e(fmt_ms(a.p99_ms if a else None)),
                _e(fmt_ratio(a.degraded_ratio if a else None)),
                _e(fmt_recovery(outcome)),
                _e(
                    f"availability ≥ {slo.availability}, p99 ≤ {slo.p99_ms:g} ms, degraded ≤ "
                    f"{slo.max_degraded_ratio}, RTO {slo.rto_s:g} s"
                ),
            ]
        ],
    )
    failures = ""
    if verdict.failures:
        items = "".join(
            f"<li><b>{_e(f.phase)}</b> · {_e(f.subject)}: {_e(f.detail)}</li>"
            for f in verdict.failures
        )
        failures = f"<h3>Failures</h3><ul>{items}</ul>"
    body = [
        f"<section id='{_e(verdict.experiment)}'><h2>{_e(verdict.experiment)} {badge}</h2>",
        f"<p>{_e(verdict.title)} — journal <code>{_e(verdict.path.name)}</code></p>",
        facts,
        failures,
    ]
    if verdict.journal is not None:
        body += [
            "<h3>Steady-state hypothesis</h3>",
            hypothesis_html(outcome),
            "<h3>Injected (method)</h3>",
            activities_html(outcome, "run"),
            "<h3>Rollbacks</h3>",
            activities_html(outcome, "rollbacks"),
        ]
    body += ["<h3>Recorder time series</h3>", plot_html(outcome), "</section>"]
    return "\n".join(body)


def render_report(outcomes: Sequence[Outcome]) -> str:
    """The whole report: a summary table, then one section per experiment."""
    passed = sum(1 for o in outcomes if o.verdict.passed)
    overall = "PASSED" if passed == len(outcomes) else "FAILED"
    cls = "pass" if overall == "PASSED" else "fail"
    summary = _table(
        ["experiment", "verdict", "availability", "p99", "degraded", "recovery time"],
        [
            [
                f"<a href='#{_e(o.verdict.experiment)}'>{_e(o.verdict.experiment)}</a>",
                '<span class="pass">pass</span>' if o.verdict.passed else _met("fail"),
                _e(fmt_ratio(o.analysis.availability if o.analysis else None)),
                _e(fmt_ms(o.analysis.p99_ms if o.analysis else None)),
                _e(fmt_ratio(o.analysis.degraded_ratio if o.analysis else None)),
                _e(fmt_recovery(o)),
            ]
            for o in outcomes
        ],
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    sections = "\n".join(experiment_html(o) for o in outcomes)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>recdrill drill report: {overall}</title><style>{_STYLE}</style></head><body>"
        f"<h1>recdrill drill report: <span class='{cls}'>{overall}</span></h1>"
        f"<p>{passed}/{len(outcomes)} experiments passed · generated {generated}</p>"
        f"{summary}{sections}</body></html>\n"
    )
