"""Findings: every failed check and thin margin, with evidence and a rule-table action."""

from __future__ import annotations

from pathlib import Path

from experiments.findings import (
    RULES,
    drill_findings,
    missed_weakening_findings,
    readable_detail,
    rule_for,
)
from experiments.journal import Failure, Verdict
from experiments.outcome import Outcome, build_outcome
from experiments.report_margins import experiment_row
from experiments.timeseries import Slo
from tests.experiments.journals import factories as f

DOCS = Path(__file__).resolve().parents[2] / "docs" / "report.md"


def _findings(tmp_path: Path, journal: dict, **series):
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, f.make_timeseries(journal, **series))
    outcome = build_outcome(path)
    return drill_findings([outcome], [experiment_row(outcome)])


def test_a_comfortable_pass_has_no_findings(tmp_path: Path) -> None:
    assert _findings(tmp_path, f.clean_journal(), breach=None) == []


def test_a_failed_check_is_a_red_finding_pointing_at_the_hypothesis(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.after_failed(journal)
    after = [x for x in _findings(tmp_path, journal, breach=None) if x.kind == "check-failed:after"]
    assert len(after) == 1
    assert after[0].severity == "red" and after[0].anchor == "replica-loss-hypothesis"
    assert "0.42" in after[0].evidence
    assert after[0].actions == rule_for("check-failed:after").actions


def test_a_thin_p99_margin_is_an_amber_finding_with_remedies(tmp_path: Path) -> None:
    journal = f.clean_journal()
    series = f.make_timeseries(journal, breach=None)
    for sample in series["samples"]:
        sample["p99_ms"] = 220.0
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, series)
    outcome = build_outcome(path)
    (found,) = drill_findings([outcome], [experiment_row(outcome)])
    assert (found.kind, found.severity) == ("margin:p99", "amber")
    assert found.evidence == "p99 220 ms of 250 ms"
    assert found.anchor == "replica-loss-timeline"
    assert any("try-timeout" in action for action in found.actions)


def test_slow_recovery_is_a_finding(tmp_path: Path) -> None:
    journal = f.clean_journal()
    journal["experiment"]["configuration"]["slo"]["rto_s"] = 2
    kinds = {x.kind for x in _findings(tmp_path, journal, breach=(0.3, 3.0))}
    assert "margin:recovery" in kinds


def test_a_missed_weakening_is_a_finding() -> None:
    (found,) = missed_weakening_findings(["no-standby"])
    assert found.kind == "sensitivity-missed" and "no-standby" in found.evidence


def test_the_rule_table_is_documented() -> None:
    docs = DOCS.read_text()
    for rule in RULES:
        assert f"`{rule.kind}`" in docs, rule.kind
        for action in rule.actions:
            assert action in docs, action


def test_a_failed_before_check_hides_its_consequences(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.before_failed_method_skipped(journal)
    outcome = build_outcome(f.write_journal(tmp_path, journal))  # no method, no series
    found = drill_findings([outcome], [experiment_row(outcome)])
    assert [x.kind for x in found] == ["check-failed:before"]


def test_evidence_puts_the_probe_output_in_words() -> None:
    detail = (
        'status succeeded; tolerance not met; output: {"availability": 1.0, '
        '"p99_ms": 300.4, "degraded_ratio": 0.0, "requests": 105}'
    )
    assert readable_detail(detail) == (
        "tolerance not met; measured availability 100.00%, p99 300 ms, degraded 0.00%, 105 requests"
    )
    assert readable_detail("x" * 500).endswith("…") and len(readable_detail("x" * 500)) == 220


def test_a_coverage_gap_gets_its_own_remedy() -> None:
    verdict = Verdict("zone-loss", Path("zone-loss.json"), {}, [])
    verdict.failures.append(Failure("zone-loss", "during", "coverage", "no check for 9.8 s"))
    outcome = Outcome(verdict, Slo(), None, "no series", None)
    (found,) = drill_findings([outcome], [experiment_row(outcome)])
    assert found.kind == "check-failed:coverage"
    assert "check more often" in found.actions[0]
