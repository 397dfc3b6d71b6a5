"""The local environment's Prometheus targets: derived from the control API's view and
kept current by a watcher as replicas move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.local.client import ControlError
from infra.local.monitoring import TargetWatcher, drill_rules, regions_targets, scrape_targets
from monitoring.local import ScrapeTarget

ROUTER = {"port": 8000, "url": "http://127.0.0.1:8000"}


def _replica(slot: str, zone: str, port: int | None, role: str = "active") -> dict:
    return {"id": slot, "zone": zone, "role": role, "port": port, "state": "ready"}


def test_the_router_and_every_replica_with_a_port_are_targets() -> None:
    replicas = [
        _replica("local-a-0", "a", 8101),
        _replica("local-b-0", "b", None),  # between processes: nothing to scrape
        _replica("standby-0", "c", 8102, role="standby"),
    ]
    targets = {t.address: dict(t.labels) for t in scrape_targets(replicas, ROUTER)}
    replica = {"component": "replica"}
    assert targets == {
        "127.0.0.1:8000": {"component": "router"},
        "127.0.0.1:8101": {**replica, "role": "active", "zone": "a", "slot": "local-a-0"},
        "127.0.0.1:8102": {**replica, "role": "standby", "zone": "c", "slot": "standby-0"},
    }


def test_the_watcher_rewrites_the_file_only_when_a_replica_moves(tmp_path: Path) -> None:
    views = [
        [_replica("local-a-0", "a", 8101)],
        [_replica("local-a-0", "a", 8101)],
        [_replica("local-a-0", "b", 8201)],  # rescheduled into zone b on a new port
    ]

    def discover() -> list[ScrapeTarget]:
        return scrape_targets(views.pop(0), ROUTER)

    path = tmp_path / "targets.json"
    watcher = TargetWatcher(discover, path)
    assert watcher.poll() is True
    assert watcher.poll() is False
    assert watcher.poll() is True
    written = json.loads(path.read_text())
    labels = {"component": "replica", "role": "active", "zone": "b", "slot": "local-a-0"}
    assert {"targets": ["127.0.0.1:8201"], "labels": labels} in written


def test_a_failed_poll_keeps_the_last_targets(tmp_path: Path) -> None:
    answers: list = [[_replica("local-a-0", "a", 8101)], ControlError("controller busy")]

    def discover() -> list[ScrapeTarget]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return scrape_targets(answer, ROUTER)

    path = tmp_path / "targets.json"
    watcher = TargetWatcher(discover, path)
    watcher.poll()
    before = path.read_text()
    assert watcher.poll() is False
    assert path.read_text() == before and watcher.failed_polls == 1


def test_drill_rules_take_the_slo_and_the_zones(tmp_path: Path) -> None:
    text = drill_rules(tmp_path / "rules.yaml", {"p99_ms": 180}, ["a", "b"]).read_text()
    assert "> 0.18" in text
    assert '"zone", "b"' in text
    assert "for: 10s" in text  # the drill's short hold for the capacity alert


class FakeRegionControl:
    """A region's control client: its replicas, or a ControlError once the region is lost."""

    def __init__(self, replicas: list[dict], router_port: int) -> None:
        self.answer: list[dict] | None = replicas
        self.router_port = router_port

    def replicas(self) -> list[dict]:
        if self.answer is None:
            raise ControlError("connection refused")
        return self.answer

    def router(self) -> dict:
        return {"port": self.router_port}


def test_two_regions_are_labelled_and_a_lost_region_keeps_its_targets() -> None:
    primary = FakeRegionControl([_replica("local-a-0", "local-a", 8101)], 8100)
    dr = FakeRegionControl([_replica("dr-a-0", "dr-a", 8201)], 8200)
    discover = regions_targets(
        [("local-primary", "primary", primary), ("local-dr", "dr", dr)],  # type: ignore[list-item]
        "http://127.0.0.1:8300",
    )
    first = {t.address: dict(t.labels) for t in discover()}
    assert first["127.0.0.1:8101"]["region_role"] == "primary"
    assert first["127.0.0.1:8201"]["region"] == "local-dr"
    assert first["127.0.0.1:8200"] == {"component": "router", "region": "local-dr",
                                       "region_role": "dr"}  # fmt: skip
    assert first["127.0.0.1:8300"] == {"component": "replicator"}
    primary.answer = None  # the primary region is lost whole: its targets stay, as down
    assert {t.address for t in discover()} == set(first)
    dr.answer = None
    with pytest.raises(ControlError, match="no region"):
        discover()


def test_with_regions_the_replication_window_is_the_replicators_lag(tmp_path: Path) -> None:
    text = drill_rules(tmp_path / "rules.yaml", {}, ["a"], replication_window_s=6.5).read_text()
    stale = text[text.index("RecdrillDRRegionServesStaleVersion") :]
    assert "for: 7s" in stale[: stale.index("labels")]
