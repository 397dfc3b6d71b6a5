"""Turning ALERTS range-query results into episodes (pure; no Prometheus needed)."""

from __future__ import annotations

from monitoring.alerts_client import AlertEpisode, episodes_from_matrix, first_fired


def _series(state: str, times: list[float], zone: str = "b") -> dict:
    return {
        "metric": {
            "__name__": "ALERTS",
            "alertname": "RecdrillZoneActiveCapacityLow",
            "alertstate": state,
            "severity": "page",
            "zone": zone,
        },
        "values": [[t, "1"] for t in times],
    }


def test_pending_then_firing_then_resolved_is_one_episode() -> None:
    result = [_series("pending", [100, 101, 102]), _series("firing", [103, 104, 105])]
    assert episodes_from_matrix(result, step=1.0, end=120.0) == [
        AlertEpisode(
            "RecdrillZoneActiveCapacityLow",
            {"severity": "page", "zone": "b"},
            pending_at=100.0,
            fired_at=103.0,
            resolved_at=106.0,
        )
    ]


def test_an_alert_still_firing_at_the_end_is_not_resolved() -> None:
    [episode] = episodes_from_matrix([_series("firing", [100, 101, 102])], step=1.0, end=102.0)
    assert (episode.fired_at, episode.resolved_at) == (100.0, None)


def test_a_gap_splits_episodes_and_labels_keep_alerts_apart() -> None:
    result = [
        _series("firing", [100, 101, 110, 111]),
        _series("pending", [105, 106], zone="c"),
    ]
    episodes = episodes_from_matrix(result, step=1.0, end=200.0)
    assert [(e.labels["zone"], e.pending_at, e.fired_at, e.resolved_at) for e in episodes] == [
        ("b", 100.0, 100.0, 102.0),
        ("c", 105.0, None, 107.0),
        ("b", 110.0, 110.0, 112.0),
    ]


def test_first_fired_skips_earlier_pending_only_and_other_alerts() -> None:
    result = [
        _series("firing", [90, 91]),
        _series("pending", [100, 101]),
        _series("firing", [110, 111]),
        _series("firing", [105, 106], zone="c"),
    ]
    episodes = episodes_from_matrix(result, step=1.0, end=200.0)
    found = first_fired(episodes, "RecdrillZoneActiveCapacityLow", after=95.0)
    assert found is not None and (found.labels["zone"], found.fired_at) == ("c", 105.0)
    assert first_fired(episodes, "RecdrillDegradedRatioHigh", after=0.0) is None
