"""``run`` flags: blast radius (--set, --escalate), --dry-run, production refusals, --force."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.drill_window import DAYS
from experiments import catalog, cli
from experiments.faults import local
from tests.experiments.fakes import write_deployment

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )


def _not_today() -> str:
    """Every day but today (UTC): a production window the test is surely outside of."""
    return ",".join(d for i, d in enumerate(DAYS) if i != datetime.now(UTC).weekday())


def _production(tmp_path):
    window = {"days": _not_today(), "start": "00:00", "end": "23:59", "tz": "UTC"}
    return write_deployment(tmp_path, environment_kind="production", drill_windows=[window])


def test_escalation_runs_from_the_smallest_blast_radius_to_the_largest():
    ranks = {name: module.BLAST_RADIUS for name, module in catalog.CATALOG.items()}
    assert len(set(ranks.values())) == len(ranks), "two experiments share a rank"
    order = catalog.escalation_order("local")
    assert [ranks[n] for n in order] == sorted(ranks[n] for n in order)
    assert order[0] == "slow-replica"
    assert order[-3:] == ["zone-loss", "zone-hang", "serving-outage"]


def test_dry_run_prints_each_fault_with_resolved_arguments_and_changes_nothing(
    tmp_path, monkeypatch, capsys
):
    for name, func in inspect.getmembers(local, inspect.isfunction):
        if func.__module__ == local.__name__:
            monkeypatch.setattr(local, name, lambda *a, _n=name, **k: pytest.fail(f"{_n} ran"))
    path = write_deployment(tmp_path)
    journals = tmp_path / "journals"
    argv = ["run", "--deployment", str(path), "--journals", str(journals), "--dry-run"]
    assert cli.main([*argv, "--set", "blast_zone=local-b", "--set", "blast_replicas=2"]) == 0
    out = capsys.readouterr().out
    assert "zone-loss (blast radius 7" in out and "via experiments.faults.local" in out
    assert '  method: zone-down: experiments.faults.local.zone_down(zone="local-b")' in out
    assert '  rollbacks: zone-up: experiments.faults.local.zone_up(zone="local-b")' in out
    assert 'kill_replicas(selector="app=recdrill-replica,role=active", count=2)' in out
    assert "safeguard: stop when availability < 0.8 or p99 > 2000 ms" in out
    assert not journals.exists()
    assert not (tmp_path / "chaos-state").exists()


def test_dry_run_against_production_outside_a_window_says_it_would_refuse(tmp_path, capsys):
    path = _production(tmp_path)
    argv = ["run", "--deployment", str(path), "--journals", str(tmp_path / "j"), "--dry-run"]
    assert cli.main([*argv, "replica-loss"]) == 0
    assert "would refuse without --force: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--set", "blast_zone=nowhere"],
            "blast_zone 'nowhere' is not one of the deployment's zones",
        ),
        (["--set", "blast_replicas=99"], "blast_replicas must be a whole number from 1 to 6"),
        (["--set", "blast_replicas=0.5"], "blast_replicas must be a whole number"),
        (["--set", "spike_factor=-1"], "spike_factor must be a number above 1"),
        (
            ["--set", "no_such_knob=1"],
            "--set no_such_knob: not a configuration key of replica-loss",
        ),
        (["--set", "blast_replicas"], "--set 'blast_replicas': expected key=value"),
    ],
)
def test_bad_blast_radius_is_a_one_line_error(tmp_path, capsys, flags, message):
    path = write_deployment(tmp_path)
    argv = ["run", "--deployment", str(path), "--journals", str(tmp_path / "j"), "--dry-run"]
    assert cli.main([*argv, "replica-loss", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_set_values_read_as_json_else_text():
    assert cli.parse_sets(["a=2", "b=0.5", "c=local-b", "d=true", "e=x=y"]) == {
        "a": 2,
        "b": 0.5,
        "c": "local-b",
        "d": True,
        "e": "x=y",
    }


def test_production_outside_a_window_is_refused_before_anything_runs(tmp_path):
    path = _production(tmp_path)
    journals = tmp_path / "journals"
    argv = ["--deployment", str(path), "--journals", str(journals), "--set", "ssh_window_s=0.5"]
    done = _cli("run", *argv, "replica-loss")
    assert done.returncode == 3, done.stderr
    assert (
        done.stderr.startswith("error: refused: ") and "outside every drill window" in done.stderr
    )
    assert '--force "reason"' in done.stderr and "Traceback" not in done.stderr
    assert not journals.exists()


def test_force_runs_anyway_and_its_reason_is_in_the_journal(tmp_path):
    """Outside the window and nothing answering (unhealthy): forced, chaos really runs."""
    path = _production(tmp_path)
    journals = tmp_path / "journals"
    done = _cli(
        "run", "--deployment", str(path), "--journals", str(journals), "replica-loss",
        "--force", "INC-7 rehearsal approved by on-call", "--set", "ssh_window_s=0.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    journal = json.loads((journals / "replica-loss.json").read_text())
    (force,) = [e for e in journal["experiment"]["extensions"] if e["name"] == "recdrill-force"]
    assert force["reason"] == "INC-7 rehearsal approved by on-call"
    assert any("outside every drill window" in r for r in force["overrode"])
    assert any("already unhealthy" in r for r in force["overrode"])


def test_escalate_stops_at_the_first_failed_experiment(tmp_path):
    """Nothing answers, so the smallest experiment already fails its steady state."""
    path = write_deployment(tmp_path)
    journals = tmp_path / "journals"
    argv = ["--deployment", str(path), "--journals", str(journals), "--set", "ssh_window_s=0.5"]
    done = _cli("run", *argv, "--escalate")
    assert done.returncode == 1, done.stderr
    assert f"[1/{len(catalog.names('local'))}] slow-replica: chaos exit" in done.stderr
    assert "escalation stopped at slow-replica (blast radius 1): before:" in done.stderr
    assert sorted(p.name for p in journals.glob("*.json")) == ["slow-replica.json"]
