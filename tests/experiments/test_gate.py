"""The gate's verdicts: every hole in ``chaos run``'s exit code, and every broken journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.gate import EXIT_FAIL, EXIT_PASS, EXIT_USAGE, expand_journals, main
from experiments.journal import judge
from tests.experiments.journals import factories as f


def phases(verdict) -> list[str]:
    return [failure.phase for failure in verdict.failures]


def test_clean_real_journal_passes(tmp_path: Path) -> None:
    verdict = judge(f.write_journal(tmp_path, f.clean_journal()))
    assert verdict.passed, [x.message() for x in verdict.failures]
    assert verdict.experiment == "replica-loss"
    assert main([str(tmp_path / "replica-loss.json")]) == EXIT_PASS


HOLES = [
    pytest.param(f.status("aborted"), "journal", "status", "'aborted'", id="status-aborted"),
    pytest.param(f.status("failed"), "journal", "status", "'failed'", id="status-failed"),
    pytest.param(f.status("interrupted"), "journal", "status", "interrupted", id="interrupted"),
    pytest.param(f.status(None), "journal", "status", "None", id="status-missing"),
    pytest.param(f.deviated, "journal", "deviated", "deviated", id="deviated"),
    pytest.param(
        f.before_failed_method_skipped,
        "before",
        "probe 'availability-within-slo'",
        "output: 0.5",
        id="before-failed-method-skipped",
    ),
    pytest.param(
        f.before_probe_errored,
        "before",
        "probe 'availability-within-slo'",
        "refused the connection",
        id="before-probe-raised",
    ),
    pytest.param(
        f.during_failed, "during", "probe 'availability-within-slo'", "0.91", id="during-failed"
    ),
    pytest.param(
        f.after_failed, "after", "probe 'availability-within-slo'", "0.42", id="after-failed"
    ),
    pytest.param(f.after_not_run, "after", "steady-state-hypothesis", "not run", id="after-none"),
    pytest.param(
        f.method_action_failed,
        "method",
        "activity 'kill-replica'",
        "no replica to kill in zone local-a",
        id="method-action-failed",
    ),
    pytest.param(
        f.fewer_activities, "method", "activities", "not run: replicas-ready", id="fewer-activities"
    ),
    pytest.param(
        f.rollback_failed,
        "rollbacks",
        "activity 'restore-zone'",
        "did not come back",
        id="rollback-failed",
    ),
    pytest.param(f.fewer_rollbacks, "rollbacks", "activities", "0 of 1", id="fewer-rollbacks"),
    pytest.param(
        f.no_hypothesis, "journal", "steady-state-hypothesis", "no steady-state", id="no-ssh"
    ),
    pytest.param(
        f.empty_probes, "journal", "steady-state-hypothesis", "no steady-state", id="no-probes"
    ),
    pytest.param(f.fewer_probes_ran, "after", "steady-state-hypothesis", "1 of 2", id="probes-cut"),
    pytest.param(f.no_experiment, "journal", "experiment", "no experiment", id="no-experiment"),
    pytest.param(f.during_empty, "during", "coverage", "no during-method check", id="during-empty"),
    pytest.param(
        f.during_stopped_early, "during", "coverage", "no during-method check for", id="gap"
    ),
    pytest.param(f.not_continuous, "during", "runtime", "continuously", id="not-continuous"),
    pytest.param(
        f.fault_run_replaced_by_copy,
        "method",
        "activities",
        "not run: kill-replica; ran but not declared: record-traffic",
        id="fault-run-replaced-by-copy",
    ),
    pytest.param(f.method_empty, "method", "method", "no foreground action", id="method-empty"),
    pytest.param(
        f.method_without_fault, "method", "method", "nothing was injected", id="no-fault-action"
    ),
    pytest.param(f.no_identity, "journal", "identity", "which experiment", id="no-identity"),
    pytest.param(f.run_not_a_list, "method", "run", "not a list", id="run-not-list"),
    pytest.param(
        f.steady_states_not_object, "journal", "steady_states", "no steady_states", id="ss-list"
    ),
]


@pytest.mark.parametrize(("mutate", "phase", "subject", "detail"), HOLES)
def test_each_hole_fails_with_its_phase(
    tmp_path: Path, mutate, phase: str, subject: str, detail: str
) -> None:
    journal = f.clean_journal()
    mutate(journal)
    path = f.write_journal(tmp_path, journal)
    verdict = judge(path)
    assert not verdict.passed
    matching = [x for x in verdict.failures if x.phase == phase and x.subject == subject]
    assert matching, [x.message() for x in verdict.failures]
    assert detail in matching[0].detail
    assert matching[0].message().startswith("replica-loss: ")
    assert main([str(path)]) == EXIT_FAIL


def test_journal_of_another_experiment_fails_on_its_file_name(tmp_path: Path) -> None:
    path = f.write_journal(tmp_path, f.clean_journal(), name="replica-loss")
    copied = tmp_path / "zone-loss.json"
    copied.write_text(path.read_text())
    f.write_timeseries(copied, f.make_timeseries(f.clean_journal(), breach=None))
    [failure] = judge(copied).failures
    assert (failure.phase, failure.subject) == ("journal", "identity")
    assert "experiment 'replica-loss' but its file is named zone-loss.json" in failure.detail


def test_identity_falls_back_to_the_title(tmp_path: Path) -> None:
    journal = f.clean_journal()
    del journal["experiment"]["configuration"]["experiment_name"]
    path = tmp_path / "replica-loss.json"
    path.write_text(json.dumps(journal))
    assert judge(path).passed
    assert not judge(f.write_journal(tmp_path, journal, name="zone-loss")).passed


def test_coverage_allows_the_declared_window_and_frequency(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.during_stopped_early(journal)  # 10 s with no check after the first ones
    journal["experiment"]["configuration"]["ssh_window_s"] = 9.0
    assert judge(f.write_journal(tmp_path, journal)).passed
    journal["experiment"]["configuration"]["ssh_window_s"] = 5.0
    [failure] = judge(f.write_journal(tmp_path, journal)).failures
    assert "(window 5.0 s + frequency 1 s + slack 1.5 s)" in failure.detail


def test_every_during_check_must_pass_even_when_coverage_holds(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.during_failed(journal)
    assert [x.phase for x in judge(f.write_journal(tmp_path, journal)).failures] == ["during"]


def test_before_failure_also_reports_the_skipped_method(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.before_failed_method_skipped(journal)
    verdict = judge(f.write_journal(tmp_path, journal))
    assert phases(verdict)[0] == "before"
    assert {"before", "method", "after", "rollbacks"} <= set(phases(verdict))


def test_status_only_hole_names_only_the_journal_phase(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.status("aborted")(journal)
    assert phases(judge(f.write_journal(tmp_path, journal))) == ["journal"]


def test_during_reports_how_many_checks_failed(tmp_path: Path) -> None:
    journal = f.clean_journal()
    for i, state in enumerate(journal["steady_states"]["during"]):
        state["probes"][0]["tolerance_met"] = False
        state["probes"][0]["output"] = 0.1 * i
        state["steady_state_met"] = False
    verdict = judge(f.write_journal(tmp_path, journal))
    n = len(journal["steady_states"]["during"])
    [during] = [x for x in verdict.failures if x.phase == "during"]
    assert f"{n} of {n} during-method checks failed" in during.detail


def _truncated(path: Path) -> None:
    text = f.TEMPLATE.read_text()
    path.write_text(text[: len(text) // 2])


BROKEN_FILES = [
    pytest.param(lambda p: p.write_text('{"status": "completed",, }'), "not valid JSON", id="bad"),
    pytest.param(_truncated, "truncated", id="truncated"),
    pytest.param(lambda p: None, "does not exist", id="missing"),
    pytest.param(lambda p: p.write_text(""), "is empty", id="empty"),
    pytest.param(lambda p: p.write_text("  \n"), "is empty", id="whitespace"),
    pytest.param(lambda p: p.write_text("[1, 2]"), "JSON list, not a journal", id="list"),
    pytest.param(lambda p: p.write_text('"journal"'), "JSON str", id="string"),
    pytest.param(lambda p: p.write_text("null"), "JSON NoneType", id="null"),
    pytest.param(lambda p: p.write_bytes(b"\xff\xfe{\x00"), "not UTF-8", id="binary"),
]


@pytest.mark.parametrize(("write", "message"), BROKEN_FILES)
def test_broken_journal_files_fail_in_the_journal_phase(
    tmp_path: Path, write, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zone-loss.json"
    write(path)
    verdict = judge(path)
    [failure] = verdict.failures
    assert (failure.experiment, failure.phase) == ("zone-loss", "journal")
    assert message in failure.detail
    assert main([str(path)]) == EXIT_FAIL
    out = capsys.readouterr()
    assert "FAIL zone-loss" in out.out
    assert "Traceback" not in out.out + out.err


def test_one_bad_journal_fails_the_whole_gate(tmp_path: Path) -> None:
    good = f.write_journal(tmp_path, f.clean_journal(), name="replica-loss")
    bad_journal = f.clean_journal()
    f.method_action_failed(bad_journal)
    bad = f.write_journal(tmp_path, bad_journal, name="zone-loss")
    assert main([str(good)]) == EXIT_PASS
    assert main([str(good), str(bad)]) == EXIT_FAIL


def test_directory_argument_expands_to_journals_not_time_series(tmp_path: Path) -> None:
    path = f.write_journal(tmp_path, f.clean_journal())
    f.write_timeseries(path, f.make_timeseries(f.clean_journal()))
    assert expand_journals([str(tmp_path)]) == [path]
    assert expand_journals([str(path), str(tmp_path / "replica-loss.timeseries.json")]) == [path]
    assert main([str(tmp_path)]) == EXIT_PASS


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = str(f.write_journal(tmp_path, f.clean_journal()))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    cases = {
        "no journals given": [],
        "holds no journals": [str(empty_dir)],
        "cannot create": [journal, "--junit", str(blocker / "junit.xml")],
        "is a directory": [journal, "--report", str(empty_dir)],
        "cannot be read as JSON": [journal, "--slo", str(tmp_path / "nope.json")],
    }
    for message, argv in cases.items():
        assert main(argv) == EXIT_USAGE, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_slo_file_without_numbers_is_a_usage_error(tmp_path: Path) -> None:
    journal = str(f.write_journal(tmp_path, f.clean_journal()))
    slo = tmp_path / "deployment.json"
    slo.write_text(json.dumps({"slo": {"type": "env", "key": "SLO"}}))
    assert main([journal, "--slo", str(slo)]) == EXIT_USAGE


def test_coverage_window_grows_to_the_median_check_not_to_one_hung_check() -> None:
    from experiments.coverage import cadence

    journal = f.clean_journal()
    states = journal["steady_states"]["during"]
    for state, seconds in zip(states, [4.0, 4.0, 60.0, 0.5], strict=False):
        last = state["probes"][-1]
        start = f.epoch(state["probes"][0]["start"])
        last["end"] = f.datetime.fromtimestamp(start + seconds).astimezone().isoformat()
    rhythm = cadence(journal["experiment"], states)
    assert rhythm.window_s == 4.0
