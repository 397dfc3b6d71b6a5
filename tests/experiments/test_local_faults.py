"""The local fault driver speaks the controller API contract: token, routes, bodies, errors.

The real controller is exercised by the integration tests; here a recording server
checks the exact requests and that every failure becomes an ActivityFailed.
"""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.deployment import TOKEN_ENV, configuration_for, load_deployment
from experiments.faults import local
from experiments.rollback import rollback_state
from tests.experiments.fakes import json_server, write_deployment

TOKEN = "s3cr3t-control-token"
REPLICAS = [
    {"id": "a-1", "zone": "local-a", "role": "active", "state": "ready", "restarts": 0, "pid": 11},
    {
        "id": "a-2",
        "zone": "local-a",
        "role": "active",
        "state": "unready",
        "restarts": 1,
        "pid": 12,
    },
    {"id": "b-1", "zone": "local-b", "role": "active", "state": "ready", "restarts": 0, "pid": 21},
]


def _controller(replicas=None, restart_pid=None):
    """A recording control API; ``restart_pid`` is the pid a restarted replica gets."""
    listing = [dict(r) for r in (replicas or REPLICAS)]

    def route(method, path, query, body):
        if path == "/v1/replicas/signal":
            if body["signal"] not in ("TERM", "KILL", "STOP", "CONT"):
                return 400, {"error": "bad_signal", "detail": "unknown signal"}
            hit = (
                body["selector"].removeprefix("replica=")
                if "replica=" in body["selector"]
                else "a-1"
            )
            return 200, {
                "affected": [{"id": hit, "pid": 11, "zone": "local-a", "signal": body["signal"]}]
            }
        if path == "/v1/replicas/restart":
            rid = body["selector"].removeprefix("replica=")
            for r in listing:
                if r["id"] == rid and restart_pid is not None:
                    r["pid"], r["state"] = restart_pid, "ready"
            return 200, {"restarted": [rid]}
        if path == "/v1/replicas":
            chosen = listing
            if (query.get("selector") or "").startswith("replica="):
                chosen = [r for r in listing if r["id"] == query["selector"][8:]]
            return 200, {"replicas": chosen, "zones": {"local-a": "up", "local-b": "up"}}
        if path.startswith("/v1/zones/"):
            return 200, {"zone": path.split("/")[3], "state": path.rsplit("/", 1)[1]}
        return 404, {"error": "not_found", "detail": path}

    return json_server(route), listing


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)

    def make(url):
        path = write_deployment(tmp_path, control={"url": url, "token": TOKEN})
        return {
            **configuration_for(load_deployment(path), path),
            "state_file": str(tmp_path / "s.json"),
        }

    return make


def test_kill_sends_the_selector_signal_and_the_token_from_the_deployment_file(config):
    server_cm, _ = _controller()
    with server_cm as server:
        affected = local.kill_replicas(
            "app=recdrill-replica,role=active", configuration=config(server.url)
        )
    assert affected[0]["id"] == "a-1"
    (request,) = server.requests
    assert request["path"] == "/v1/replicas/signal"
    assert request["body"] == {
        "selector": "app=recdrill-replica,role=active",
        "signal": "KILL",
        "count": 1,
    }
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_token_from_secrets_wins(config):
    server_cm, _ = _controller()
    with server_cm as server:
        local.ready_capacity(
            "", configuration=config(server.url), secrets={"control_token": "other"}
        )
    assert server.requests[0]["headers"]["Authorization"] == "Bearer other"


def test_controller_errors_become_activity_failures_naming_the_route(config):
    def refuse(method, path, query, body):
        return 400, {"error": "bad_selector", "detail": "selector 'zone' has no '='"}

    with (
        json_server(refuse) as server,
        pytest.raises(ActivityFailed, match=r"/v1/replicas/signal → 400: selector"),
    ):
        local.kill_replicas("zone", configuration=config(server.url))


def test_unreachable_controller_fails_cleanly(config):
    with pytest.raises(ActivityFailed, match="control API GET /v1/replicas"):
        local.ready_capacity("", configuration=config("http://127.0.0.1:9"))


def test_freeze_records_state_and_thaw_resumes_exactly_those_replicas(config):
    server_cm, _ = _controller()
    with server_cm as server:
        configuration = config(server.url)
        local.freeze_replicas("app=recdrill-replica", configuration=configuration)
        assert local.thaw_replicas(configuration=configuration) == ["a-1"]
        assert local.thaw_replicas(configuration=configuration) == []
    bodies = [r["body"] for r in server.requests]
    assert bodies == [
        {"selector": "app=recdrill-replica", "signal": "STOP", "count": 1},
        {"selector": "app=recdrill-replica", "signal": "CONT"},
    ]


def test_a_freeze_whose_answer_never_came_is_still_thawed(config):
    """The SIGSTOP went out but the answer was lost (a trip, a timeout): the record was
    written first, so the thaw still resumes what the selector matches."""
    stopped: list[str] = []

    def lose_the_answer(method, path, query, body):
        stopped.append(body["signal"])
        if body["signal"] == "STOP":
            return 500, {"error": "internal", "detail": "answer lost"}
        return 200, {"affected": [{"id": "a-1", "pid": 11, "zone": "local-a", "signal": "CONT"}]}

    with json_server(lose_the_answer) as server:
        configuration = config(server.url)
        with pytest.raises(ActivityFailed):
            local.freeze_replicas("role=active", configuration=configuration)
        assert local.thaw_replicas(configuration=configuration) == ["a-1"]
    assert stopped == ["STOP", "CONT"]


def test_zone_down_is_undone_by_the_rollback_command(config):
    server_cm, _ = _controller()
    with server_cm as server:
        configuration = config(server.url)
        local.zone_down("local-a", configuration=configuration)
        reverted, failed = rollback_state(configuration["state_file"])
    assert failed == [] and len(reverted) == 1
    assert [r["path"] for r in server.requests] == [
        "/v1/zones/local-a/down",
        "/v1/zones/local-a/up",
    ]
    assert server.requests[1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert state.pending(configuration["state_file"]) == []


def test_wait_for_replacement_needs_a_new_pid_not_just_a_ready_slot(config):
    server_cm, listing = _controller()
    with server_cm as server:
        configuration = config(server.url)
        local.kill_replicas("replica=a-1", configuration=configuration)
        with pytest.raises(ActivityFailed, match=r"not replaced within 0 s: \['a-1'\]"):
            local.wait_for_replacement(0.3, configuration=configuration)
        listing[0]["pid"] = 99
        assert local.wait_for_replacement(2, configuration=configuration)["replaced"] == ["a-1"]


def test_wait_for_replacement_without_a_kill_fails(config):
    with pytest.raises(ActivityFailed, match="no kill recorded"):
        local.wait_for_replacement(1, configuration=config("http://127.0.0.1:9"))


def test_restart_fails_when_a_replica_does_not_come_back_ready(config):
    server_cm, _ = _controller(restart_pid=None)
    with server_cm as server, pytest.raises(ActivityFailed, match="a-1 did not come back ready"):
        local.restart_replicas("role=active", count=1, configuration=config(server.url))


def test_restart_goes_one_replica_at_a_time_and_checks_each(config):
    server_cm, _ = _controller(restart_pid=77)
    with server_cm as server:
        assert local.restart_replicas("role=active", count=2, configuration=config(server.url)) == [
            "a-1",
            "a-2",
        ]
    restarts = [
        r["body"]["selector"] for r in server.requests if r["path"] == "/v1/replicas/restart"
    ]
    assert restarts == ["replica=a-1", "replica=a-2"]


def test_restart_without_waiting_only_terminates_and_notes_every_replica(config):
    server_cm, _ = _controller()
    with server_cm as server:
        configuration = config(server.url)
        local.restart_replicas(
            "role=active", count=2, wait_ready=False, configuration=configuration
        )
    assert [r["body"] for r in server.requests if r["method"] == "POST"] == [
        {"selector": "replica=a-1", "signal": "TERM"},
        {"selector": "replica=a-2", "signal": "TERM"},
    ]
    (note,) = state.notes(configuration["state_file"], local.REPLACED)
    assert note["params"]["victims"] == [{"id": "a-1", "pid": 11}, {"id": "a-2", "pid": 12}]
    assert state.pending(configuration["state_file"]) == [], "a note is nothing to roll back"


def test_ready_capacity_counts_ready_replicas_per_zone(config):
    server_cm, _ = _controller()
    with server_cm as server:
        capacity = local.ready_capacity("", configuration=config(server.url))
    assert capacity["ready"] == 2
    assert capacity["zones"] == {"local-a": 1, "local-b": 1, "local-c": 0}
    assert capacity["restarts"] == 1


def test_wait_for_capacity_times_out_naming_the_short_zones(config):
    server_cm, _ = _controller()
    with server_cm as server, pytest.raises(ActivityFailed, match="local-c"):
        local.wait_for_capacity("", 1, timeout_s=0.2, configuration=config(server.url))


def test_wait_for_capacity_can_ask_for_a_total_wherever_replicas_run(config):
    server_cm, _ = _controller()
    with server_cm as server:
        got = local.wait_for_capacity(
            "", 0, timeout_s=5, min_total=2, configuration=config(server.url)
        )
        assert got["ready"] == 2
        with pytest.raises(ActivityFailed, match="2 ready replicas of 3 needed"):
            local.wait_for_capacity(
                "", 0, timeout_s=0.2, min_total=3, configuration=config(server.url)
            )


def test_store_verbs_go_to_the_store_driver_of_the_url(config, tmp_path):
    configuration = {**config("http://127.0.0.1:9"), "model_store_url": f"file://{tmp_path}/none"}
    with pytest.raises(ActivityFailed, match="does not exist"):
        local.store_outage(configuration=configuration)
    with pytest.raises(ActivityFailed, match="neither file:// nor s3://"):
        local.store_outage(configuration={**configuration, "model_store_url": "gs://x/y"})
