"""The drill report: one self-contained HTML page a person reads in one minute.

The first screen answers the questions in order: the verdict; one row per experiment
(fault, load, time to detect and recover, SLO margins coloured green / amber / red);
then findings with their evidence and suggested actions. Trends against past drills and
the per-experiment detail (timeline, hypothesis in words, raw JSON collapsed) follow.
Plots are embedded as base64 PNG data URIs and there is no script, so the page makes no
network requests. Journal text is untrusted and always escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime

from experiments.findings import (
    Finding,
    drill_findings,
    hypothesis_anchor,
    readable_detail,
    timeline_anchor,
)
from experiments.history import DrillRecord, regression_findings
from experiments.outcome import Outcome
from experiments.plots import timeseries_png
from experiments.report_detail import activities_html, esc, hypothesis_html
from experiments.report_margins import ExperimentRow, Margin, detect_seconds, experiment_row
from experiments.report_trends import trends_html
from experiments.standby_value import StandbyValue, standby_html

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.2em 2em;color:#1d1d1f;
max-width:1280px}
h1{margin:.2em 0;font-size:1.6em} h2{margin:.3em 0} h3{margin:1em 0 .3em;font-size:1.05em}
.verdict{padding:.5em .9em;border-radius:6px;color:#fff;display:inline-block}
.verdict.pass{background:#1b7f3b} .verdict.fail{background:#b3261e}
.meta{color:#555;margin:.3em 0 .8em}
table{border-collapse:collapse;margin:.4em 0 .8em;font-size:.88em}
th,td{border:1px solid #d0d0d0;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.ok{background:#e3f4e8} td.thin{background:#fff1d6} td.breached{background:#fbe0de}
td.unknown{background:#f4f4f4;color:#666} td.regressed{font-weight:700;outline:2px solid #b3261e}
span.ok{color:#1b7f3b;font-weight:600} span.thin{color:#8a5a00;font-weight:600}
span.breached{color:#b3261e;font-weight:600}
.badge{font-size:.75em;padding:.15em .5em;border-radius:4px;color:#fff;vertical-align:middle}
.badge.pass{background:#1b7f3b} .badge.fail{background:#b3261e}
ol.findings{padding-left:1.4em;margin:.3em 0} ol.findings li{margin:.25em 0}
.sev{font-size:.75em;padding:.1em .45em;border-radius:4px;color:#fff;margin-right:.3em}
.sev.red{background:#b3261e} .sev.amber{background:#b7791f}
.do{color:#333} .note{color:#8a5a00}
section{border-top:2px solid #ddd;margin-top:1.5em} img{max-width:100%}
details summary{cursor:pointer;color:#555;font-size:.85em}
pre{font-size:.78em;white-space:pre-wrap;word-break:break-all;max-height:20em;overflow:auto}
table.detail td{font-size:.95em}
.banner.unisolated{background:#fff1d6;border-left:4px solid #b7791f;padding:.5em .8em}
"""


def _margin_cell(margin: Margin) -> str:
    return f"<td class='{esc(margin.level)}'>{esc(margin.text)}</td>"


def summary_table(rows: Sequence[ExperimentRow]) -> str:
    """The first screen's table: one row per experiment, margins coloured by level."""
    head = (
        "experiment",
        "verdict",
        "fault injected",
        "load",
        "time to detect",
        "time to recover",
        "p99",
        "availability",
        "degraded answers",
    )
    body = []
    for row in rows:
        verdict = (
            '<span class="ok">pass</span>' if row.passed else '<span class="breached">FAIL</span>'
        )
        cells = [
            f"<td><a href='#{esc(row.experiment)}'>{esc(row.experiment)}</a></td>",
            f"<td>{verdict}</td>",
            f"<td>{esc(row.fault)}</td>",
            f"<td>{esc(row.load)}</td>",
            f"<td>{esc(row.detect)}</td>",
            _margin_cell(row.recovery),
            *(_margin_cell(m) for m in row.margins),
        ]
        body.append(f"<tr data-experiment='{esc(row.experiment)}'>{''.join(cells)}</tr>")
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f"<table id='summary'><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def findings_html(findings: Sequence[Finding]) -> str:
    """Every finding with its evidence (a link to the plot or journal rows) and what to do."""
    if not findings:
        return "<p class='ok'>No findings: every check passed with comfortable margins.</p>"
    items = []
    for f in findings:
        actions = "; ".join(f.actions)
        items.append(
            f"<li><span class='sev {esc(f.severity)}'>{esc(f.severity)}</span>"
            f"<b>{esc(f.experiment)}</b>: {esc(f.seen)}. "
            f"Evidence: <a href='#{esc(f.anchor)}'>{esc(f.evidence)}</a>. "
            f"<span class='do'>Do: {esc(actions)}.</span></li>"
        )
    return f"<ol class='findings'>{''.join(items)}</ol>"


def plot_html(outcome: Outcome) -> str:
    """The recorder's series as one embedded PNG, or a note that it is missing."""
    if outcome.series is None or outcome.analysis is None:
        return f"<p class='note'>Time series missing: {esc(outcome.series_problem)}</p>"
    if not outcome.series.samples:
        return "<p class='note'>Time series has no samples.</p>"
    png = timeseries_png(
        outcome.series,
        outcome.analysis,
        outcome.slo,
        outcome.verdict.experiment,
        detect_seconds(outcome),
    )
    data = base64.b64encode(png).decode("ascii")
    alt = esc(f"timeline of {outcome.verdict.experiment}")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}">'


def experiment_html(outcome: Outcome, row: ExperimentRow) -> str:
    verdict = outcome.verdict
    name = verdict.experiment
    badge = (
        "<span class='badge pass'>PASS</span>"
        if verdict.passed
        else ("<span class='badge fail'>FAIL</span>")
    )
    cells = "".join(_margin_cell(m) for m in (row.recovery, *row.margins))
    heads = "".join(
        f"<th>{h}</th>"
        for h in ("time to recover", "p99", "availability", "degraded answers", "SLO from")
    )
    facts = (
        f"<table><thead><tr>{heads}</tr></thead>"
        f"<tbody><tr>{cells}<td>{esc(outcome.slo_origin)}</td></tr></tbody></table>"
    )
    failures = ""
    if verdict.failures:
        items = "".join(
            f"<li><b>{esc(f.phase)}</b> · {esc(f.subject)}: {esc(readable_detail(f.detail))}</li>"
            for f in verdict.failures
        )
        failures = f"<h3>Failed checks</h3><ul>{items}</ul>"
    body = [
        f"<section id='{esc(name)}'><h2>{esc(name)} {badge}</h2>",
        f"<p>{esc(verdict.title)} · fault: {esc(row.fault)} · load: {esc(row.load)} · "
        f"journal <code>{esc(verdict.path.name)}</code></p>",
        facts,
        failures,
        f"<h3 id='{esc(timeline_anchor(name))}'>Timeline</h3>",
        plot_html(outcome),
    ]
    if verdict.journal is not None:
        body += [
            f"<h3 id='{esc(hypothesis_anchor(name))}'>Steady-state hypothesis</h3>",
            hypothesis_html(outcome),
            "<details><summary>Injected (method) and rollbacks</summary>",
            "<h3>Method</h3>",
            activities_html(outcome, "run"),
            "<h3>Rollbacks</h3>",
            activities_html(outcome, "rollbacks"),
            "</details>",
        ]
    body.append("</section>")
    return "\n".join(body)


def isolation_html(outcomes: Sequence[Outcome]) -> str:
    """A banner when any experiment ran unisolated (its figures depend on the machine),
    else the line that says how the replicas were held to their budgets."""
    configs = [o.verdict.experiment_spec.get("configuration") or {} for o in outcomes]
    notes = {str(c.get("isolation_note", "")) for c in configs if c.get("isolation") == "none"}
    if notes:
        why = "; ".join(sorted(n for n in notes if n)) or "not recorded"
        return (
            "<p class='banner unisolated' id='isolation'><strong>Not isolated:</strong> "
            f"{esc(why)}. Replicas shared every CPU, so capacity and latency depend on "
            "this machine and on whatever else ran on it.</p>"
        )
    isolated = sorted({str(c["isolation_note"]) for c in configs if c.get("isolation_note")})
    if not isolated:
        return ""
    return f"<p class='meta' id='isolation'>Isolation: {esc('; '.join(isolated))}.</p>"


def render_report(
    outcomes: Sequence[Outcome],
    history: Sequence[DrillRecord] = (),
    extra_findings: Sequence[Finding] = (),
    standby: StandbyValue | None = None,
) -> str:
    """The whole page: verdict, summary rows, findings, what the standby buys (when a
    no-standby zone-loss was given), trends, then the detail."""
    rows = [experiment_row(o) for o in outcomes]
    findings = [*drill_findings(outcomes, rows), *regression_findings(history), *extra_findings]
    passed = sum(1 for o in outcomes if o.verdict.passed)
    overall = "PASSED" if passed == len(outcomes) else "FAILED"
    cls = "pass" if overall == "PASSED" else "fail"
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    trends = (
        trends_html(history)
        if history
        else (
            "<p class='note'>No drill history given: run <code>python -m experiments report "
            "--history DIR</code> for trends.</p>"
        )
    )
    sections = "\n".join(experiment_html(o, r) for o, r in zip(outcomes, rows, strict=True))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>recdrill drill report: {overall}</title><style>{_STYLE}</style></head><body>"
        f"<h1 id='verdict'>recdrill drill: <span class='verdict {cls}'>{overall}</span></h1>"
        f"<p class='meta'>{passed}/{len(outcomes)} experiments passed · {len(findings)} "
        f"finding(s) · generated {generated}. Margins: green comfortable, amber within 20% "
        "of the limit, red breached.</p>"
        f"{isolation_html(outcomes)}"
        f"{summary_table(rows)}"
        f"<h2 id='findings'>Findings and improvement plan</h2>{findings_html(findings)}"
        f"{standby_html(standby) if standby is not None else ''}"
        f"<h2 id='trends'>Trends</h2>{trends}"
        f"{sections}</body></html>\n"
    )
