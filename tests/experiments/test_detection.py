"""Detection in the gate: expected alerts against a recorded alert timeline.

The journals are the real ``clean.json`` with a declared expectation; the timelines are
what ``record_alerts`` writes beside a journal. A weakened rule (one that can never fire)
leaves the timeline without the alert, which must fail the experiment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments import catalog
from experiments.detection import (
    ExpectedAlert,
    alerts_path,
    judge_detection,
    sidecar_for,
    write_sidecar,
)
from experiments.outcome import build_outcome
from experiments.report_margins import detect_text
from monitoring.alerts_client import AlertEpisode
from tests.experiments.fakes import write_deployment
from tests.experiments.journals import factories as f

ALERT = "RecdrillZoneActiveCapacityLow"


def _journal(*expected: ExpectedAlert) -> dict[str, Any]:
    journal = f.clean_journal()
    journal["experiment"]["configuration"]["expected_alerts"] = [e.to_json() for e in expected]
    return journal


def _fault(journal: dict[str, Any]) -> tuple[float, float]:
    from experiments.timeseries import fault_window

    window = fault_window(journal, 0.0)
    assert window is not None
    return window


def _episode(
    fired_after_s: float | None, resolved_after_end_s: float | None, journal: dict, **labels: str
) -> dict[str, Any]:
    start, end = _fault(journal)
    fired = None if fired_after_s is None else start + fired_after_s
    return {
        "alert": labels.pop("alert", ALERT),
        "labels": {"zone": "a", **labels},
        "pending_at": (fired or start) - 1.0,
        "fired_at": fired,
        "resolved_at": None if resolved_after_end_s is None else end + resolved_after_end_s,
    }


def _sidecar(*episodes: dict[str, Any]) -> dict[str, Any]:
    return {"checked": True, "source": "http://127.0.0.1:9", "episodes": list(episodes)}


def test_an_alert_that_fires_in_time_and_resolves_passes_with_its_time_to_detect() -> None:
    journal = _journal(ExpectedAlert(ALERT, within_s=60))
    result = judge_detection("zone-loss", journal, _sidecar(_episode(12.0, 5.0, journal)))
    assert result.failures == []
    assert result.detected_s == pytest.approx(12.0)
    assert result.text == "12.0 s"


def test_a_weakened_rule_that_never_fires_fails_the_experiment() -> None:
    journal = _journal(ExpectedAlert(ALERT, within_s=60))
    other = _episode(3.0, 1.0, journal, alert="RecdrillDegradedRatioHigh")
    [failure] = judge_detection("zone-loss", journal, _sidecar(other)).failures
    assert (failure.phase, failure.subject) == ("detection", ALERT)
    assert "never fired" in failure.detail


def test_an_alert_that_fires_too_late_fails() -> None:
    journal = _journal(ExpectedAlert(ALERT, within_s=60))
    [failure] = judge_detection(
        "zone-loss", journal, _sidecar(_episode(75.0, 5.0, journal))
    ).failures
    assert "75.0 s after the fault, later than 60 s" in failure.detail


def test_an_alert_already_firing_before_the_fault_is_not_detection() -> None:
    journal = _journal(ExpectedAlert(ALERT, within_s=60))
    leftover = _episode(-5.0, 5.0, journal)
    [failure] = judge_detection("zone-loss", journal, _sidecar(leftover)).failures
    assert "never fired" in failure.detail


def test_an_alert_that_never_resolves_fails_unless_resolution_is_not_expected() -> None:
    stuck = ExpectedAlert(ALERT, within_s=60, resolve_within_s=30)
    journal = _journal(stuck)
    [failure] = judge_detection(
        "zone-loss", journal, _sidecar(_episode(8.0, None, journal))
    ).failures
    assert failure.subject == f"{ALERT} resolved" and "still firing" in failure.detail
    late = judge_detection("zone-loss", journal, _sidecar(_episode(8.0, 45.0, journal)))
    assert "resolved 45.0 s after the fault ended" in late.failures[0].detail
    sticky = _journal(ExpectedAlert(ALERT, within_s=60, resolve=False))
    assert judge_detection("x", sticky, _sidecar(_episode(8.0, None, sticky))).failures == []


def test_without_a_timeline_detection_is_not_checked_and_says_why() -> None:
    journal = _journal(ExpectedAlert(ALERT, within_s=60))
    absent = judge_detection("zone-loss", journal, None)
    assert (absent.checked, absent.failures, absent.text) == (False, [], "not checked")
    reason = {"checked": False, "reason": "prometheus is not on the PATH"}
    told = judge_detection("zone-loss", journal, reason)
    assert told.reason == "prometheus is not on the PATH" and told.failures == []


def test_an_experiment_that_expects_no_alert_says_so() -> None:
    result = judge_detection("replica-loss", f.clean_journal(), _sidecar())
    assert (result.checked, result.failures, result.text) == (True, [], "none expected")


def test_the_gate_fails_a_journal_whose_expected_alert_never_fired(tmp_path: Path) -> None:
    journal = _journal(ExpectedAlert(ALERT, within_s=60))
    path = f.write_journal(tmp_path, journal, name="zone-loss")
    write_sidecar(path, _sidecar())
    outcome = build_outcome(path)
    assert not outcome.verdict.passed
    assert [x.phase for x in outcome.verdict.failures] == ["detection"]
    assert detect_text(outcome) == "not detected"
    write_sidecar(path, _sidecar(_episode(9.5, 3.0, journal)))
    healthy = build_outcome(path)
    assert healthy.verdict.passed and detect_text(healthy) == "9.5 s"
    alerts_path(path).unlink()
    assert detect_text(build_outcome(path)) == "not checked"


def test_a_timeline_keeps_the_episodes_that_began_during_its_experiment() -> None:
    def ep(pending: float) -> AlertEpisode:
        return AlertEpisode(ALERT, {"zone": "a"}, pending, pending + 10, None)

    body = sidecar_for([ep(90.0), ep(105.0), ep(250.0)], start=100.0, end=200.0, source="u")
    assert [e["pending_at"] for e in body["episodes"]] == [105.0]
    assert body["checked"] is True


def test_the_catalog_declares_alerts_or_why_none(tmp_path: Path) -> None:
    from experiments.deployment import configuration_for, load_deployment

    deployment_file = write_deployment(tmp_path)
    config = configuration_for(load_deployment(deployment_file), deployment_file)
    for name in catalog.names("local"):
        rendered = json.loads(json.dumps(catalog.build(name, config)))["configuration"]
        declared = rendered["expected_alerts"]
        assert declared or rendered["no_alert_reason"], name
    zone = catalog.build("zone-loss", config)["configuration"]["expected_alerts"]
    assert zone == [ExpectedAlert(ALERT, 60.0).to_json()]


def test_a_directory_of_journals_does_not_take_alert_timelines_for_journals(
    tmp_path: Path,
) -> None:
    from experiments.gate import expand_journals

    path = f.write_journal(tmp_path, f.clean_journal(), name="zone-loss")
    write_sidecar(path, _sidecar())
    assert expand_journals([str(tmp_path)]) == [path]


def test_a_new_run_removes_the_alert_timeline_of_an_earlier_drill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from experiments import runner

    journals = tmp_path / "journals"
    journals.mkdir()
    stale = write_sidecar(journals / "zone-loss.json", _sidecar())
    monkeypatch.setattr(runner, "_run_one", lambda argv, timeout_s: 0)
    runner.run_catalog(write_deployment(tmp_path), journals, ["zone-loss"], progress=print)
    assert not stale.exists()
