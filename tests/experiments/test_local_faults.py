"""Local fault drivers speak the controller API contract: token, routes, bodies, errors.

The real controller is exercised by the integration tests; here a recording server
checks the exact requests and that every failure becomes an ActivityFailed.
"""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.deployment import TOKEN_ENV, configuration_for, load_deployment
from experiments.local import actions, control, probes
from experiments.rollback import rollback_state
from tests.experiments.fakes import json_server, write_deployment

TOKEN = "s3cr3t-control-token"
REPLICAS = [
    {"id": "a-1", "zone": "local-a", "role": "active", "state": "ready", "restarts": 0},
    {"id": "a-2", "zone": "local-a", "role": "active", "state": "unready", "restarts": 1},
    {"id": "b-1", "zone": "local-b", "role": "active", "state": "ready", "restarts": 0},
]


def _controller(route=None):
    def default(method, path, query, body):
        if path == "/v1/replicas/delete":
            if body["signal"] not in ("TERM", "KILL", "STOP", "CONT"):
                return 400, {"error": "bad_signal", "detail": "unknown signal"}
            hit = "b-1" if body["selector"] == "replica=b-1" else "a-1"
            return 200, {
                "affected": [{"id": hit, "pid": 1, "zone": "local-a", "signal": body["signal"]}]
            }
        if path == "/v1/replicas":
            return 200, {"replicas": REPLICAS, "zones": {"local-a": "up", "local-b": "up"}}
        if path.startswith("/v1/zones/"):
            return 200, {"zone": path.split("/")[3], "state": path.rsplit("/", 1)[1]}
        return 404, {"error": "not_found", "detail": path}

    return json_server(route or default)


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)

    def make(url):
        path = write_deployment(tmp_path, control={"url": url, "token": TOKEN})
        return configuration_for(load_deployment(path), path)

    return make


def test_kill_sends_the_selector_signal_and_the_token_from_the_deployment_file(config):
    with _controller() as server:
        affected = actions.kill_replicas(
            "app=recdrill-replica,role=active", configuration=config(server.url)
        )
    assert affected[0]["id"] == "a-1"
    (request,) = server.requests
    assert request["path"] == "/v1/replicas/delete"
    assert request["body"] == {
        "selector": "app=recdrill-replica,role=active",
        "signal": "KILL",
        "count": 1,
    }
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_token_from_secrets_wins(config):
    with _controller() as server:
        probes.replicas(configuration=config(server.url), secrets={"control_token": "other"})
    assert server.requests[0]["headers"]["Authorization"] == "Bearer other"


def test_controller_errors_become_activity_failures_naming_the_route(config):
    with _controller() as server, pytest.raises(ActivityFailed, match=r"/v1/replicas/delete → 400"):
        control.call(
            "POST",
            "/v1/replicas/delete",
            config(server.url),
            None,
            {"selector": "a=b", "signal": "HUP"},
        )


def test_unknown_signal_is_refused_before_calling(config):
    with _controller() as server, pytest.raises(ActivityFailed, match="HUP"):
        actions.kill_replicas("app=x", signal="HUP", configuration=config(server.url))
    assert server.requests == []


def test_unreachable_controller_fails_cleanly(config):
    with pytest.raises(ActivityFailed, match="control API GET /v1/replicas"):
        probes.replicas(configuration=config("http://127.0.0.1:9"))


def test_stop_records_state_and_cont_resumes_exactly_those_replicas(tmp_path, config):
    state_file = str(tmp_path / "state.json")
    with _controller() as server:
        configuration = config(server.url)
        actions.stop_replicas("app=recdrill-replica", state_file, configuration=configuration)
        assert actions.cont_replicas(state_file, configuration=configuration) == ["a-1"]
        assert actions.cont_replicas(state_file, configuration=configuration) == []
    bodies = [r["body"] for r in server.requests]
    assert bodies[1] == {"selector": "replica=a-1", "signal": "CONT"}
    assert len(bodies) == 2


def test_zone_down_is_undone_by_the_rollback_command(tmp_path, config):
    state_file = tmp_path / "state.json"
    with _controller() as server:
        actions.zone_down("local-a", str(state_file), configuration=config(server.url))
        reverted, failed = rollback_state(state_file)
    assert failed == [] and len(reverted) == 1
    assert [r["path"] for r in server.requests] == [
        "/v1/zones/local-a/down",
        "/v1/zones/local-a/up",
    ]
    assert server.requests[1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert state.pending(state_file) == []


def test_ready_capacity_counts_ready_replicas_per_zone(config):
    with _controller() as server:
        capacity = probes.ready_capacity(configuration=config(server.url))
    assert capacity["ready"] == 2
    assert capacity["zones"] == {"local-a": 1, "local-b": 1, "local-c": 0}
    assert capacity["restarts"] == 1


def test_wait_for_capacity_times_out_naming_the_short_zones(config):
    with _controller() as server, pytest.raises(ActivityFailed, match="local-c"):
        probes.wait_for_capacity(
            1, timeout_s=0.2, interval_s=0.05, configuration=config(server.url)
        )


def test_wait_for_capacity_can_ask_for_a_total_wherever_replicas_run(config):
    with _controller() as server:
        got = probes.wait_for_capacity(
            0, timeout_s=5, min_total=2, configuration=config(server.url)
        )
        assert got["ready"] == 2
        with pytest.raises(ActivityFailed, match="2 ready replicas of 3 needed"):
            probes.wait_for_capacity(
                0, timeout_s=0.2, interval_s=0.05, min_total=3, configuration=config(server.url)
            )
