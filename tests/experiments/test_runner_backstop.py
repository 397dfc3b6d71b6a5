"""After each run the runner reverts what the experiment's state file still holds."""

from __future__ import annotations

import json

from experiments import state
from experiments.faults import file_store
from experiments.runner import state_backstop


def test_pending_changes_are_reverted_after_the_run(tmp_path):
    store, away = tmp_path / "store", tmp_path / ".store.chaos-outage"
    away.mkdir()
    (away / "manifest.json").write_text("{}")  # an outage a skipped rollback left behind
    state_file = tmp_path / "chaos-state" / "store-outage.json"
    state.record(state_file, file_store.OUTAGE, path=str(store), moved_to=str(away))
    experiment = tmp_path / "store-outage.json"
    experiment.write_text(json.dumps({"configuration": {"state_file": str(state_file)}}))
    lines: list[str] = []
    reverted = state_backstop(experiment, lines.append)
    assert (store / "manifest.json").exists() and not away.exists()
    assert state.pending(state_file) == []
    assert len(reverted) == 1 and lines[0].startswith("  state backstop reverted: ")


def test_a_clean_state_file_is_left_alone(tmp_path):
    experiment = tmp_path / "x.json"
    experiment.write_text(json.dumps({"configuration": {"state_file": str(tmp_path / "s.json")}}))
    lines: list[str] = []
    assert state_backstop(experiment, lines.append) == ()
    assert lines == [] and not (tmp_path / "s.json").exists()
