"""How long the drill waits for alerts after the catalog: until what a journal expects to
resolve has resolved, never for an unrelated alert with a long window."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from experiments.detection import ExpectedAlert, alerts_path
from experiments.drill_conditions import RESOLVE_WAIT_S, record_alerts
from monitoring.alerts_client import AlertEpisode
from tests.experiments.journals import factories as f

CAPACITY = "RecdrillZoneActiveCapacityLow"
LOAD_FAILING = "RecdrillModelLoadFailing"


class ScriptedPrometheus:
    """Answers each timeline query with the next scripted list (the last one repeats)."""

    url = "http://127.0.0.1:9090"

    def __init__(self, script: list[list[AlertEpisode]]) -> None:
        self.script = script
        self.queries = 0

    def wait_quiet(self, timeout_s: float = 60.0) -> float:
        raise AssertionError("the drill must not wait for every alert to end")

    def timeline(self, since: float, until: float | None = None) -> list[AlertEpisode]:
        self.queries += 1
        return self.script[min(self.queries, len(self.script)) - 1]

    def stop(self) -> None:
        pass


def _journal(tmp_path: Path, *expected: ExpectedAlert) -> tuple[Path, float]:
    journal = f.clean_journal()
    journal["experiment"]["configuration"]["expected_alerts"] = [e.to_json() for e in expected]
    path = tmp_path / "zone-loss.json"
    path.write_text(json.dumps(journal))
    return path, datetime.fromisoformat(journal["start"]).timestamp()


def _episode(name: str, at: float, resolved: float | None) -> AlertEpisode:
    return AlertEpisode(name, {}, at, at + 10, resolved)


def _record(tmp_path: Path, script, *expected: ExpectedAlert) -> tuple[list[float], Path]:
    journal, start = _journal(tmp_path, *expected)
    slept: list[float] = []
    prometheus = ScriptedPrometheus([[*(e(start) for e in step)] for step in script])
    assert record_alerts(prometheus, start - 60, [journal], "", sleep=slept.append) is None
    return slept, journal


def test_it_waits_until_the_expected_alert_resolves_then_one_more_step(tmp_path: Path) -> None:
    firing = [lambda s: _episode(CAPACITY, s + 1, None)]
    resolved = [lambda s: _episode(CAPACITY, s + 1, s + 30)]
    slept, journal = _record(
        tmp_path, [firing, firing, firing, resolved], ExpectedAlert(CAPACITY, 60.0)
    )
    assert slept == [1.0, 1.0, 1.0, 2.0]
    [episode] = json.loads(alerts_path(journal).read_text())["episodes"]
    assert episode["resolved_at"] is not None


def test_an_alert_not_expected_to_resolve_is_not_waited_for(tmp_path: Path) -> None:
    # The load-failure alert's 2 m window outlasts the drill; waiting for it was 30 s lost.
    both = [
        lambda s: _episode(CAPACITY, s + 1, s + 30),
        lambda s: _episode(LOAD_FAILING, s + 1.2, None),
    ]
    expected = (ExpectedAlert(CAPACITY, 60.0), ExpectedAlert(LOAD_FAILING, 60.0, resolve=False))
    slept, journal = _record(tmp_path, [both], *expected)
    assert slept == [2.0]
    episodes = json.loads(alerts_path(journal).read_text())["episodes"]
    assert {e["alert"] for e in episodes} == {CAPACITY, LOAD_FAILING}


def test_an_alert_that_never_resolves_is_waited_for_at_most_the_bound(tmp_path: Path) -> None:
    firing = [lambda s: _episode(CAPACITY, s + 1, None)]
    slept, journal = _record(tmp_path, [firing], ExpectedAlert(CAPACITY, 60.0))
    assert sum(slept) == RESOLVE_WAIT_S + 2.0
    [episode] = json.loads(alerts_path(journal).read_text())["episodes"]
    assert episode["resolved_at"] is None  # the gate then fails it as still firing


def test_an_episode_from_before_the_experiment_is_not_waited_for(tmp_path: Path) -> None:
    earlier = [lambda s: _episode(CAPACITY, s - 30, None)]
    slept, _ = _record(tmp_path, [earlier], ExpectedAlert(CAPACITY, 60.0))
    assert slept == [2.0]
