"""Drill history and trends: archive drills, compare the latest with the one before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.cli import main as cli_main
from experiments.history import (
    HistoryError,
    archive,
    compare,
    load_history,
    regression_findings,
)
from experiments.outcome import build_outcome
from experiments.report_cli import EXIT_OK, EXIT_USAGE, record_drill
from experiments.report_margins import experiment_row
from tests.experiments.journals import factories as f


def _drill(root: Path, breach: tuple[float, float | None] | None) -> Path:
    """A drill's journals directory with one replica-loss journal and its series."""
    journals = root / "journals"
    journals.mkdir(parents=True)
    journal = f.clean_journal()
    path = f.write_journal(journals, journal)
    f.write_timeseries(path, f.make_timeseries(journal, breach=breach, length_s=10))
    return journals


def _archive(history: Path, root: Path, breach) -> Path:
    journals = _drill(root, breach)
    rows = [experiment_row(build_outcome(p)) for p in sorted(journals.glob("replica-loss.json"))]
    return archive(history, journals, rows)


FAST = {"passed": True, "recovery_s": 2.0, "p99_ms": 40.0, "levels": {"availability": "ok"}}


@pytest.mark.parametrize(
    ("after", "flagged"),
    [
        ({**FAST, "recovery_s": 2.4}, None),  # +20%: noise
        ({**FAST, "recovery_s": 3.1}, "recovery time 2.0 s → 3.1 s"),
        ({**FAST, "p99_ms": 45.0}, None),  # +12%, +5 ms
        ({**FAST, "p99_ms": 60.0}, "p99 40 ms → 60 ms"),
        ({**FAST, "passed": False}, "passed before, fails now"),
        ({**FAST, "levels": {"availability": "thin"}}, "availability margin ok → thin"),
    ],
)
def test_compare_flags_only_real_regressions(after: dict, flagged: str | None) -> None:
    lines = compare("replica-loss", FAST, after, "20261201T100000Z")
    if flagged is None:
        assert lines == []
    else:
        assert lines == [f"{flagged} (vs drill 20261201T100000Z)"]


def test_small_absolute_growth_is_noise() -> None:
    before = {**FAST, "recovery_s": 0.2}
    assert compare("x", before, {**FAST, "recovery_s": 0.6}, "ref") == []  # +200%, +0.4 s


def test_archive_keeps_journals_and_figures_and_prunes(tmp_path: Path) -> None:
    history = tmp_path / "history"
    first = _archive(history, tmp_path / "d1", breach=(0.3, 1.5))
    assert (first / "journals" / "replica-loss.timeseries.json").is_file()
    figures = json.loads((first / "figures.json").read_text())["experiments"]["replica-loss"]
    assert figures["recovery_s"] == pytest.approx(1.5, abs=0.11)
    assert figures["levels"]["recovery"] == "ok"
    journals = _drill(tmp_path / "d2", breach=None)
    for _ in range(3):
        archive(history, journals, [], keep=2)
    assert len(load_history(history)) == 2


def test_unreadable_entries_are_skipped_and_a_missing_history_is_an_error(
    tmp_path: Path,
) -> None:
    history = tmp_path / "history"
    _archive(history, tmp_path / "d1", breach=None)
    broken = history / "20000101T000000Z"
    broken.mkdir()
    (broken / "figures.json").write_text("{not json")
    stamps = [r.stamp for r in load_history(history)]
    assert len(stamps) == 1 and broken.name not in stamps
    with pytest.raises(HistoryError, match="does not exist"):
        load_history(tmp_path / "nowhere")


def test_a_slowed_drill_is_flagged_with_a_suggested_action(tmp_path: Path) -> None:
    history = tmp_path / "history"
    _archive(history, tmp_path / "d1", breach=(0.3, 1.5))
    _archive(history, tmp_path / "d2", breach=(0.3, 4.0))  # e.g. a longer reschedule delay
    (found,) = regression_findings(load_history(history))
    assert found.kind == "regression" and found.anchor == "trends"
    assert "recovery time 1.5 s → 4.0 s" in found.evidence
    assert any("reschedule delay" in action for action in found.actions)
    out, summary = tmp_path / "report.html", tmp_path / "summary.md"
    code = cli_main(
        ["report", "--history", str(history), "--out", str(out), "--summary", str(summary)]
    )
    assert code == EXIT_OK
    page = out.read_text()
    assert "<h3>Regressions against the previous drill</h3>" in page
    assert "recovery time 1.5 s → 4.0 s" in page
    assert "The last 2 drills, oldest first." in page
    assert "<td class='ok regressed'>4.0 s ▲ worse</td>" in page  # the trend cell itself
    assert page.count("▲ worse") == 1
    assert "recovery time 1.5 s → 4.0 s" in summary.read_text()


def test_one_drill_has_no_trends_yet(tmp_path: Path) -> None:
    history = tmp_path / "history"
    _archive(history, tmp_path / "d1", breach=None)
    out = tmp_path / "report.html"
    assert cli_main(["report", "--history", str(history), "--out", str(out)]) == EXIT_OK
    assert "trends appear from the second drill on" in out.read_text()


def test_report_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["report", "--history", str(tmp_path / "nowhere")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("report: error: history directory") and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert cli_main(["report", "--history", str(tmp_path / "empty")]) == EXIT_USAGE
    assert "holds no drill" in capsys.readouterr().err
    assert cli_main(["report", "--history", str(tmp_path), "--last", "0"]) == EXIT_USAGE


def test_record_drill_archives_and_rerenders_the_drill_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "drill"
    _drill(root, breach=(0.3, 1.5))
    monkeypatch.setenv("DRILL_HISTORY", str(tmp_path / "history"))
    monkeypatch.delenv("DRILL_SCREENSHOT", raising=False)
    archived = record_drill(root)
    assert archived is not None and archived.parent == tmp_path / "history"
    assert "<h2 id='trends'>Trends</h2>" in (root / "report.html").read_text()
    assert "| replica-loss | ✅ pass |" in (root / "summary.md").read_text()


def test_record_drill_never_fails_the_drill(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DRILL_HISTORY", str(tmp_path / "history"))
    assert record_drill(tmp_path / "no-drill-here") is None
    assert "drill history: not recorded" in capsys.readouterr().err


def test_a_missing_expected_journal_stays_a_failure_in_the_rerendered_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "drill"
    _drill(root, breach=None)
    history = tmp_path / "history"
    monkeypatch.setenv("DRILL_HISTORY", str(history))
    monkeypatch.delenv("DRILL_SCREENSHOT", raising=False)
    assert record_drill(root, ["replica-loss", "zone-loss"]) is not None
    summary = (root / "summary.md").read_text()
    assert "FAILED (1/2 experiments passed)" in summary
    assert "zone-loss.json does not exist" in summary
    assert load_history(history)[-1].expected == ("replica-loss", "zone-loss")


def test_weakenings_the_sensitivity_matrix_missed_become_findings(tmp_path: Path) -> None:
    history = tmp_path / "history"
    _archive(history, tmp_path / "d1", breach=None)
    results = tmp_path / "sensitivity.json"
    results.write_text(
        json.dumps(
            [
                {"weakening": {"name": "no-standby"}, "caught": True, "ok": True},
                {"weakening": {"name": "no-retries"}, "caught": False, "ok": False},
                {"weakening": {"name": "drain-0"}, "caught": False},
                {"weakening": {"name": "no-ejection"}, "caught": False, "ok": True},
                {"weakening": {"name": "healthy"}, "caught": False, "ok": True},
            ]
        )
    )
    out, summary = tmp_path / "report.html", tmp_path / "summary.md"
    argv = ["report", "--history", str(history), "--out", str(out), "--summary", str(summary)]
    assert cli_main([*argv, "--sensitivity", str(results)]) == EXIT_OK
    text = summary.read_text()
    assert "weakening 'no-retries'" in text
    assert "weakening 'drain-0'" in text  # a file from before depth pairs: caught decides
    assert "no-standby" not in text and "weakening 'healthy'" not in text
    assert "no-ejection" not in text  # covered by a caught depth pair
    assert "weakening &#x27;no-retries&#x27;" in out.read_text()
    results.write_text("{oops")
    assert cli_main([*argv, "--sensitivity", str(results)]) == EXIT_USAGE
