"""The gate's CI outputs: JUnit XML (one test case per experiment) and a Markdown summary."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from experiments.findings import Finding, drill_findings
from experiments.history import DrillRecord, regression_findings
from experiments.outcome import Outcome
from experiments.report_margins import Margin, experiment_row

SUITE_NAME = "recdrill-drill"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def fmt_recovery(outcome: Outcome) -> str:
    """Recovery time, or why there is none."""
    analysis = outcome.analysis
    if analysis is None:
        return "no time series"
    if analysis.fault_window is None:
        return "no fault window"
    if analysis.recovery_s is None:
        return "not recovered"
    if not analysis.breached:
        return "0 s (SLO held)"
    if analysis.recovery_s > outcome.slo.rto_s:
        return f"{analysis.recovery_s:.1f} s (over the {outcome.slo.rto_s:g} s RTO)"
    return f"{analysis.recovery_s:.1f} s"


def _duration(outcome: Outcome) -> float:
    value = (outcome.verdict.journal or {}).get("duration")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def junit_xml(outcomes: Sequence[Outcome]) -> bytes:
    """testsuites/testsuite/testcase/failure, one test case per experiment."""
    failed = sum(1 for o in outcomes if not o.verdict.passed)
    total_time = f"{sum(_duration(o) for o in outcomes):.3f}"
    counts = {"tests": str(len(outcomes)), "failures": str(failed), "errors": "0"}
    root = ET.Element("testsuites", name=SUITE_NAME, time=total_time, **counts)
    suite = ET.SubElement(
        root, "testsuite", name=SUITE_NAME, skipped="0", time=total_time, **counts
    )
    for outcome in outcomes:
        verdict = outcome.verdict
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{SUITE_NAME}.{verdict.experiment}",
            name=verdict.experiment,
            time=f"{_duration(outcome):.3f}",
        )
        if verdict.failures:
            first = verdict.failures[0]
            failure = ET.SubElement(
                case, "failure", message=first.message(), type=f"{first.phase}-failed"
            )
            failure.text = "\n".join(f.message() for f in verdict.failures)
        out = ET.SubElement(case, "system-out")
        out.text = f"recovery: {fmt_recovery(outcome)}; slo source: {outcome.slo_origin}" + (
            f"; {outcome.series_problem}" if outcome.series_problem else ""
        )
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def md_cell(text: str) -> str:
    """Journal text made inert in a Markdown table cell (no HTML, no pipes, no newlines)."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    for char in "\\|`*_[]":
        text = text.replace(char, "\\" + char)
    return text


_DOT = {"ok": "🟢", "thin": "🟠", "breached": "🔴", "unknown": "⚪"}


def _margin_md(margin: Margin) -> str:
    return f"{_DOT[margin.level]} {md_cell(margin.text)}"


def markdown_summary(
    outcomes: Sequence[Outcome],
    history: Sequence[DrillRecord] = (),
    extra_findings: Sequence[Finding] = (),
) -> str:
    """Verdict, one margin row per experiment, then findings and failures: fit for
    $GITHUB_STEP_SUMMARY."""
    passed = sum(1 for o in outcomes if o.verdict.passed)
    verdict = "PASSED" if passed == len(outcomes) else "FAILED"
    rows = [experiment_row(o) for o in outcomes]
    lines = [
        f"## recdrill drill: {verdict} ({passed}/{len(outcomes)} experiments passed)",
        "",
        "| experiment | verdict | fault | load | time to detect | time to recover | p99 "
        "| availability | degraded |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            md_cell(row.experiment),
            "✅ pass" if row.passed else "❌ fail",
            md_cell(row.fault),
            md_cell(row.load),
            md_cell(row.detect),
            _margin_md(row.recovery),
            *(_margin_md(m) for m in row.margins),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "🟢 comfortable · 🟠 within 20% of the limit · 🔴 breached"]
    findings = [*drill_findings(outcomes, rows), *regression_findings(history), *extra_findings]
    if findings:
        lines += ["", "### Findings and improvement plan", ""]
        lines += [
            f"- {'🔴' if f.severity == 'red' else '🟠'} **{md_cell(f.experiment)}**: "
            f"{md_cell(f.seen)}. Evidence: {md_cell(f.evidence)}. "
            f"Do: {md_cell('; '.join(f.actions))}."
            for f in findings
        ]
    failures = [f for o in outcomes for f in o.verdict.failures]
    if failures:
        lines += ["", "### Failures", ""]
        lines += [
            f"- **{md_cell(f.experiment)}** · {f.phase} · {md_cell(f.subject)}: {md_cell(f.detail)}"
            for f in failures
        ]
    missing = [o for o in outcomes if o.series_problem]
    if missing:
        lines += ["", "### Notes", ""]
        lines += [
            f"- {md_cell(o.verdict.experiment)}: {md_cell(o.series_problem)}" for o in missing
        ]
    return "\n".join(lines) + "\n"
