"""``python -m experiments``: clear one-line errors, delegation, and a real ``chaos run``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from experiments import cli, state
from experiments.runner import chaos_argv, chaos_binary
from tests.experiments.fakes import write_deployment


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args], capture_output=True, text=True, timeout=120
    )


def test_missing_deployment_is_one_line_error_without_traceback(tmp_path):
    done = _cli("render", "--deployment", str(tmp_path / "nope.json"), "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: deployment description {tmp_path / 'nope.json'} does not exist"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read JSON"),
        ('{"platform": "local"}', "'endpoint' is missing"),
        (None, "'platform' must be one of local, kubernetes, got 'mesos'"),
    ],
)
def test_bad_deployment_names_what_is_wrong(tmp_path, capsys, content, message):
    path = write_deployment(tmp_path, platform="local")
    if content is None:
        data = json.loads(path.read_text())
        data["platform"] = "mesos"
        content = json.dumps(data)
    path.write_text(content)
    assert cli.main(["render", "--deployment", str(path), "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


def test_unknown_experiment_name_is_refused(tmp_path, capsys):
    path = write_deployment(tmp_path)
    assert cli.main(["render", "--deployment", str(path), "--out", str(tmp_path), "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_gate_subcommand_delegates_to_the_gate(monkeypatch, capsys):
    import experiments.gate

    seen = []
    monkeypatch.setattr(experiments.gate, "main", lambda argv: seen.append(argv) or 7)
    assert cli.main(["gate", "a.json", "--junit", "j.xml"]) == 7
    assert seen == [["a.json", "--junit", "j.xml"]]


def test_gate_subcommand_says_when_the_gate_is_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "experiments.gate", None)
    assert cli.main(["gate", "x.json"]) == 2
    assert "gate not available" in capsys.readouterr().err


def test_rollback_of_an_empty_state_says_so(tmp_path, capsys):
    assert cli.main(["rollback", "--state", str(tmp_path / "none.json")]) == 0
    assert "nothing pending" in capsys.readouterr().out


def test_rollback_exits_non_zero_when_something_cannot_be_undone(tmp_path, capsys):
    path = tmp_path / "state.json"
    state.record(path, "store.outage", path=str(tmp_path / "a"), moved_to=str(tmp_path / "b"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert cli.main(["rollback", "--state", str(path)]) == 1
    assert "FAILED" in capsys.readouterr().err


def test_chaos_argv_always_rolls_back_and_checks_during_the_method(tmp_path):
    argv = chaos_argv(
        tmp_path / "x.json", tmp_path / "j" / "x.json", tmp_path / "v.json", tmp_path / "l"
    )
    assert argv[0] == str(chaos_binary()) and chaos_binary().exists()
    joined = " ".join(argv)
    assert "--rollback-strategy always" in joined
    assert "--hypothesis-strategy continuously" in joined
    assert f"--journal-path {tmp_path / 'j' / 'x.json'}" in joined
    assert f"timeseries_path={tmp_path / 'j' / 'x.timeseries.json'}" in joined


def test_run_keeps_the_journal_of_a_failed_steady_state_and_does_not_trust_chaos(tmp_path):
    """Nothing listens at the endpoint: chaos runs for real, the steady state fails before."""
    deployment = write_deployment(tmp_path)
    journals = tmp_path / "journals"
    journals.mkdir()
    (journals / "replica-loss.timeseries.json").write_text("{}")  # from an earlier run
    done = _cli("run", "--deployment", str(deployment), "--journals", str(journals), "replica-loss")
    assert done.returncode == 0, done.stderr
    assert "[1/1] replica-loss: chaos exit" in done.stderr
    journal = json.loads((journals / "replica-loss.json").read_text())
    assert journal["steady_states"]["before"]["steady_state_met"] is False
    assert journal["run"] == []
    assert (journals / "replica-loss.log").exists()
    assert not list(journals.glob("*.timeseries.json"))
