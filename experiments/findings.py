"""Findings and the improvement plan: what a drill showed, its evidence, what to do next.

Every failed check, thin or breached margin, slow recovery, regression against the
previous drill and weakening the sensitivity matrix missed becomes a ``Finding``. Its
suggested actions come from ``RULES``, a small table from a kind of finding to its usual
remedies, so the advice is reviewable in one place (and listed in ``docs/report.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from experiments.outcome import Outcome
from experiments.report_detail import describe_value
from experiments.report_margins import ExperimentRow, Margin

SEVERITY = {"breached": "red", "thin": "amber"}


@dataclass(frozen=True)
class Rule:
    """A kind of finding and its usual remedies."""

    kind: str
    seen: str
    actions: tuple[str, ...]


RULES: tuple[Rule, ...] = (
    Rule(
        "check-failed:safeguard",
        "the safeguard stopped the experiment: real users suffered beyond its line",
        (
            "the system cannot absorb this fault at this blast radius: fix that first",
            "rerun with a smaller blast radius (--set blast_replicas=1, --escalate)",
        ),
    ),
    Rule(
        "check-failed:before",
        "the steady state did not hold before the fault was injected",
        ("fix the environment first: readiness, warm-up, or a load level above capacity",),
    ),
    Rule(
        "check-failed:during",
        "the SLO or capacity check failed while the fault was active",
        (
            "more standby replicas so the loss is absorbed at once",
            "shorter router health-check interval and retry on another zone",
        ),
    ),
    Rule(
        "check-failed:coverage",
        "the continuous checks left part of the method unobserved",
        (
            "check more often: a shorter SLO window or control frequency",
            "find what slowed a check (a loaded machine stretches every window)",
        ),
    ),
    Rule(
        "check-failed:after",
        "the system had not returned to its steady state after the fault",
        ("shorter reschedule delay or faster readiness probe", "check the rollback restored it"),
    ),
    Rule(
        "check-failed:method",
        "a method step failed: the fault, or a check inside the method (e.g. capacity back "
        "within the RTO)",
        (
            "a failed fault step: check the fault driver and its permissions",
            "a failed recovery check: more standby replicas or a shorter reschedule delay",
        ),
    ),
    Rule(
        "check-failed:rollbacks",
        "a rollback failed: the environment may still be damaged",
        ("run `python -m experiments rollback --state …` and fix the rollback action",),
    ),
    Rule(
        "check-failed:recovery",
        "the recorder's series did not show recovery within the RTO, or is missing",
        (
            "more standby replicas",
            "a shorter reschedule delay",
            "a missing series: check the recorder ran for the whole method",
        ),
    ),
    Rule(
        "check-failed:journal",
        "the run did not complete cleanly (deviated, aborted, crashed or unreadable journal)",
        (
            "read the failed checks below it; if the journal is missing or unreadable, rerun "
            "the experiment alone with `python -m experiments run … NAME`",
        ),
    ),
    Rule(
        "margin:p99",
        "p99 latency came close to or over its budget",
        (
            "more capacity per zone (replicas per zone)",
            "a tighter router try-timeout so a slow try is retried sooner",
        ),
    ),
    Rule(
        "margin:availability",
        "errors used most or all of the availability budget",
        (
            "more standby replicas",
            "faster failure detection in the router (health-check interval, retries)",
        ),
    ),
    Rule(
        "margin:degraded",
        "many answers fell back to the popular-items list",
        ("keep the verified model in every replica's local cache", "more standby replicas"),
    ),
    Rule(
        "margin:recovery",
        "capacity or the SLO came back slowly (or not at all) within the RTO",
        ("more standby replicas", "a shorter reschedule delay", "a faster readiness probe"),
    ),
    Rule(
        "regression",
        "a figure got worse than in the previous drill",
        (
            "diff the two drills' commits and settings (reschedule delay, replicas, timeouts)",
            "rerun the experiment alone to rule out a noisy machine",
        ),
    ),
    Rule(
        "sensitivity-missed",
        "a deliberately weakened deployment passed every experiment",
        ("add or tighten an experiment that exercises the weakened mechanism",),
    ),
)
_BY_KIND = {rule.kind: rule for rule in RULES}


def rule_for(kind: str) -> Rule:
    return _BY_KIND[kind]


@dataclass(frozen=True)
class Finding:
    """One thing to act on, with where to look."""

    experiment: str
    kind: str
    severity: str
    seen: str
    evidence: str
    anchor: str

    @property
    def actions(self) -> tuple[str, ...]:
        return rule_for(self.kind).actions


def timeline_anchor(experiment: str) -> str:
    return f"{experiment}-timeline"


def hypothesis_anchor(experiment: str) -> str:
    return f"{experiment}-hypothesis"


_OUTPUT = re.compile(r"output: (\{.*\}|\[.*\])\s*$")
MAX_EVIDENCE = 220


def readable_detail(detail: str) -> str:
    """A failure's detail with the probe's JSON output put in words, kept short."""
    detail = detail.replace("status succeeded; ", "")
    match = _OUTPUT.search(detail)
    if match:
        try:
            value = json.loads(match.group(1))
        except ValueError:
            value = None
        if value is not None:
            detail = detail[: match.start()] + "measured " + describe_value(value)
    return detail if len(detail) <= MAX_EVIDENCE else detail[: MAX_EVIDENCE - 1] + "…"


def _failed_checks(outcome: Outcome) -> list[Finding]:
    found = []
    failures = outcome.verdict.failures
    if any(f.phase == "safeguard" for f in failures):
        # The method was interrupted: skipped activities and the status follow from it.
        failures = [f for f in failures if f.phase == "safeguard"]
    elif any(f.phase == "before" for f in failures):
        # The method and the after-check were skipped: those failures are consequences.
        failures = [f for f in failures if f.phase == "before"]
    for failure in failures:
        if failure.subject == "deviated" and len(failures) > 1:
            continue  # the checks that deviated are findings of their own
        kind = f"check-failed:{failure.phase}"
        if failure.subject == "coverage":
            kind = "check-failed:coverage"
        if kind not in _BY_KIND:
            kind = "check-failed:journal"
        found.append(
            Finding(
                experiment=failure.experiment,
                kind=kind,
                severity="red",
                seen=rule_for(kind).seen,
                evidence=f"{failure.subject}: {readable_detail(failure.detail)}",
                anchor=hypothesis_anchor(failure.experiment),
            )
        )
    return found


def _margin_finding(experiment: str, margin: Margin) -> Finding | None:
    if margin.level not in SEVERITY:
        return None
    kind = f"margin:{margin.metric}"
    word = "breached" if margin.level == "breached" else "thin margin"
    return Finding(
        experiment=experiment,
        kind=kind,
        severity=SEVERITY[margin.level],
        seen=f"{word}: {rule_for(kind).seen}",
        evidence=margin.text,
        anchor=timeline_anchor(experiment),
    )


def drill_findings(outcomes: Sequence[Outcome], rows: Sequence[ExperimentRow]) -> list[Finding]:
    """Failed checks first, then thin or breached margins, red before amber."""
    found: list[Finding] = []
    for outcome in outcomes:
        found += _failed_checks(outcome)
    for row in rows:
        for margin in (*row.margins, row.recovery):
            finding = _margin_finding(row.experiment, margin)
            if finding is not None:
                found.append(finding)
    return sorted(found, key=lambda f: (f.severity != "red", not f.kind.startswith("check")))


def missed_weakening_findings(missed: Iterable[str]) -> list[Finding]:
    """A weakening no experiment caught (from the sensitivity matrix)."""
    rule = rule_for("sensitivity-missed")
    return [
        Finding("sensitivity", rule.kind, "red", rule.seen, f"weakening '{name}'", "findings")
        for name in missed
    ]
