"""The one control client and the renamed signal route, without starting processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from infra.local.client import SIGNAL_ROUTE, ControlClient, ControlError
from infra.local.config import ControllerConfig
from infra.local.control_api import build_app
from infra.local.controller import Controller
from tests.experiments.fakes import json_server

AUTH = {"Authorization": "Bearer t"}


def _post(tmp_path, path: str, body: dict) -> httpx.Response:
    """POST to the real control app in process (no controller processes are started)."""
    config = ControllerConfig(
        workdir=str(tmp_path), store="file:///s", model="recommender", token="t"
    )
    app = build_app(Controller(config), {})

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
            return await client.post(path, json=body, headers=AUTH)

    return asyncio.run(send())


def test_the_signal_route_is_named_for_what_it_does(tmp_path):
    body = {"selector": "zone=local-a", "signal": "STOP"}
    assert _post(tmp_path, SIGNAL_ROUTE, body).json() == {"affected": []}
    assert _post(tmp_path, "/v1/replicas/delete", body).status_code == 404
    bad = _post(tmp_path, SIGNAL_ROUTE, {**body, "signal": "HUP"})
    assert bad.status_code == 400 and "HUP" in bad.json()["detail"]


def test_a_restart_that_is_not_rolling_is_refused_not_ignored(tmp_path):
    for body in ({"selector": "zone=local-a", "rolling": False}, {"selector": "x=y", "all": 1}):
        resp = _post(tmp_path, "/v1/replicas/restart", body)
        assert resp.status_code == 400, body
    assert "rolling" in _post(tmp_path, "/v1/replicas/restart", {"rolling": False}).text


def test_client_errors_name_the_route_and_the_answer():
    def refuse(method, path, query, body):
        return 400, {"error": "bad_request", "detail": "unknown zone 'local-z'"}

    with json_server(refuse) as server, ControlClient(server.url, "t") as control:
        with pytest.raises(ControlError, match=r"POST /v1/zones/local-z/down → 400: unknown zone"):
            control.zone_down("local-z")
        with pytest.raises(ControlError, match="'HUP' is not one of"):
            control.signal_replicas("zone=local-a", "HUP")
    assert [r["path"] for r in server.requests] == ["/v1/zones/local-z/down"]


def test_client_reports_an_unreachable_controller_as_a_control_error():
    control = ControlClient("http://127.0.0.1:9", "t", timeout=2)
    with control, pytest.raises(ControlError, match="control API GET /v1/replicas"):
        control.replicas()


def test_client_sends_the_bearer_token_and_the_signal_body():
    def ok(method, path, query, body):
        return 200, {
            "affected": [{"id": "local-a-0", "pid": 1, "zone": "local-a", "signal": "KILL"}]
        }

    with json_server(ok) as server, ControlClient(server.url, "s3cr3t") as control:
        assert control.signal_replicas("replica=local-a-0", count=1)[0]["id"] == "local-a-0"
    (request,) = server.requests
    assert request["headers"]["Authorization"] == "Bearer s3cr3t"
    assert request["body"] == {"selector": "replica=local-a-0", "signal": "KILL", "count": 1}
