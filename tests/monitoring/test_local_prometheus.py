"""A real Prometheus process, scraping a tiny real exporter on loopback through file_sd,
with the recommender's rules: an alert fires when the exporter says a zone has no
healthy replica, and resolves when it has one again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from monitoring.local import (
    PrometheusError,
    ScrapeTarget,
    alerts_timeline,
    start_prometheus,
    write_targets,
)
from monitoring.rules import write_rules
from monitoring.settings import RuleSettings

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prometheus")]
ALERT = "RecdrillZoneActiveCapacityLow"


@pytest.fixture
def exporter() -> Iterator[tuple[str, Gauge]]:
    """A router-like exporter: one active replica in zone a, healthy or not."""
    registry = CollectorRegistry()
    state = Gauge(
        "recdrill_router_upstream_state",
        "1 for the state each upstream is in",
        ["upstream", "zone", "role", "state"],
        registry=registry,
    )
    state.labels("a1", "a", "active", "healthy").set(1)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _wait(what: str, check: Callable[[], bool], timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_an_alert_fires_and_resolves_in_a_real_prometheus(
    tmp_path: Path, exporter: tuple[str, Gauge]
) -> None:
    address, state = exporter
    settings = replace(RuleSettings(zones=("a",)).for_drill(), capacity_for="2s")
    rules = write_rules(tmp_path / "rules.yaml", settings)
    targets = tmp_path / "targets.json"
    with start_prometheus(tmp_path / "prom", targets, rules) as prom:
        client = prom.client
        assert ALERT in client.rule_names()
        # Targets arrive after start, as replicas do: file_sd picks the file up.
        # A target label named like an exported one must not hide it (honor_labels).
        write_targets(targets, [ScrapeTarget(address, {"component": "router", "zone": "x"})])
        _wait("the exporter to be scraped", lambda: client.targets_up().get(address, False))
        # Until the first scrape zone a had no replica at all, which rightly alerts.
        _wait("a quiet baseline", lambda: client.active_alerts() == [])
        started = time.time()
        state.labels("a1", "a", "active", "healthy").set(0)
        broken = time.time()
        _wait(
            "the alert to fire",
            lambda: any(a["state"] == "firing" for a in client.active_alerts()),
        )
        state.labels("a1", "a", "active", "healthy").set(1)
        healed = time.time()
        _wait("the alert to resolve", lambda: client.active_alerts() == [])
        time.sleep(1.5)  # one more query step, so the timeline sees the resolution
        episodes = alerts_timeline(prom.url, since=started)
    [episode] = [e for e in episodes if e.alertname == ALERT]
    assert episode.labels["zone"] == "a"
    assert episode.fired_at is not None and episode.resolved_at is not None
    assert broken - 1 <= episode.pending_at < episode.fired_at < episode.resolved_at
    assert episode.fired_at - episode.pending_at >= 1.0  # the 2 s hold, at 1 s resolution
    assert episode.resolved_at >= healed - 1
    assert prom.process.poll() is not None


def test_a_broken_rule_file_stops_prometheus_with_its_log(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n- name: x\n  rules:\n  - alert: Bad\n    expr: sum(\n")
    with pytest.raises(PrometheusError, match="exited with code"):
        start_prometheus(tmp_path / "prom", tmp_path / "targets.json", rules)


def test_a_restarted_prometheus_does_not_see_the_last_environment_as_live(
    tmp_path: Path, exporter: tuple[str, Gauge]
) -> None:
    """Prometheus writes no staleness markers when it stops: on the old data the next one
    would serve the last scrape for 5 minutes, so a drill's lost zone looked healthy on
    the previous drill's router series. Each start begins with empty data."""
    address, _ = exporter
    rules = write_rules(tmp_path / "rules.yaml", RuleSettings(zones=("a",)).for_drill())
    targets = tmp_path / "targets.json"
    query = 'recdrill_router_upstream_state{state="healthy"}'
    write_targets(targets, [ScrapeTarget(address, {"component": "router"})])
    with start_prometheus(tmp_path / "prom", targets, rules) as prom:
        _wait("a scrape of the exporter", lambda: bool(prom.client.query(query)))
    write_targets(targets, [])  # the environment is gone
    with start_prometheus(tmp_path / "prom", targets, rules) as prom:
        time.sleep(1.5)  # a rule evaluation and a scrape interval
        assert prom.client.query(query) == []
        capacity = prom.client.query("recdrill:active_ready_replicas:by_zone")
        assert [float(c["value"][1]) for c in capacity] == [0.0]
