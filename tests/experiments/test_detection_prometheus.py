"""Detection end to end with a real Prometheus: the drill's rules and target watcher,
a router-like exporter that loses its zone, the alert timeline the drill writes, and
the gate's judgement. A weakened rule (a threshold that can never fire) must fail."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from experiments.detection import ExpectedAlert, judge_detection, sidecar_for
from infra.local.monitoring import LocalMonitoring, drill_rules
from monitoring.local import ScrapeTarget
from monitoring.rules import ZONE_CAPACITY

pytestmark = pytest.mark.integration
ALERT = "RecdrillZoneActiveCapacityLow"


@pytest.fixture(autouse=True)
def _prometheus_installed() -> None:
    if shutil.which("prometheus") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("prometheus is missing in CI; .ci/run should have installed it")
        pytest.skip("prometheus is not on the PATH (apt-get install -y prometheus)")


@pytest.fixture
def router() -> Iterator[tuple[str, Gauge]]:
    """A router-like exporter: one healthy active upstream in zone a."""
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


WEAKENED = f"{ALERT}Weakened"


def _weakened_copy(rules: Path) -> Path:
    """The capacity alert with an impossible threshold (no zone has < 0 replicas), under
    its own name so it runs beside the real rule on the same series and the same fault."""
    body = yaml.safe_load(rules.read_text())
    [rule] = [r for r in body["groups"][0]["rules"] if r.get("alert") == ALERT]
    rule = {**rule, "alert": WEAKENED, "expr": f"{ZONE_CAPACITY} < 0"}
    path = rules.with_name("weakened.yaml")
    path.write_text(yaml.safe_dump({"groups": [{"name": "weakened", "rules": [rule]}]}))
    return path


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _expecting(alert: str, fault_start: float, fault_end: float) -> dict:
    expected = ExpectedAlert(alert, within_s=60.0, resolve=True, resolve_within_s=30.0)
    fault = {"activity": {"type": "action", "name": "zone-down"}}
    return {
        "experiment": {"configuration": {"expected_alerts": [expected.to_json()]}},
        "run": [{**fault, "start": _iso(fault_start), "end": _iso(fault_end)}],
    }


def test_zone_loss_is_detected_only_by_a_rule_that_can_fire(
    tmp_path: Path, router: tuple[str, Gauge]
) -> None:
    address, state = router
    rules = drill_rules(tmp_path / "rules.yaml", {}, ["a"])
    files = [rules, _weakened_copy(rules)]
    monitoring = LocalMonitoring(tmp_path / "prom", files, lambda: [ScrapeTarget(address)])
    with monitoring:
        monitoring.wait_quiet(30)
        client = monitoring.prometheus.client  # type: ignore[union-attr]
        assert WEAKENED in client.rule_names()
        since = time.time()
        state.labels("a1", "a", "active", "healthy").set(0)  # the zone goes dark
        fault_start = time.time()
        _wait("the alert to fire", lambda: any(
            a["state"] == "firing" for a in client.active_alerts()), timeout=30)  # fmt: skip
        state.labels("a1", "a", "active", "healthy").set(1)
        fault_end = time.time()
        monitoring.wait_quiet(20)
        time.sleep(1.5)  # one more query step, so the timeline sees the resolution
        sidecar = sidecar_for(monitoring.timeline(since), since, time.time(), monitoring.url)
    real = judge_detection("zone-loss", _expecting(ALERT, fault_start, fault_end), sidecar)
    assert real.failures == []
    assert real.detected_s is not None and 10.0 <= real.detected_s <= 20.0
    weak = judge_detection("zone-loss", _expecting(WEAKENED, fault_start, fault_end), sidecar)
    assert [f.detail for f in weak.failures] == ["never fired within 60 s of the fault"]
