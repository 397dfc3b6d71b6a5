"""Admission control through real processes: a shedding replica answers 429 + Retry-After,
and the router treats that as "try another replica, or the fallback", never a client error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import pytest

from infra.local.procs import free_port
from model.artifacts import publish_artifacts
from model.index import IndexParams
from tests.factories import tiny_artifacts
from tests.serving.conftest import MODEL, REPO_ROOT

pytestmark = pytest.mark.integration
SHED_EVERYTHING = ["--max-queue-ms", "0.001"]  # no request is collected within 1 us
ONE_IN_FLIGHT = ["--max-in-flight", "1"]


def hold_one_request(url: str) -> socket.socket:
    """Send a request's headers and half its body: the app holds it in flight, reading."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    head = "POST /v1/recommend HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\n"
    sock.sendall(f"{head}Content-Length: 40\r\n\r\n".encode() + b'{"user_id": ')
    return sock


def refused_while_held(url: str, timeout: float = 10.0) -> httpx.Response:
    """The first answer refused at the in-flight cap (until the held request is in the app,
    answers are the queue bound's)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.post(f"{url}/v1/recommend", json={"user_id": "u1"}, timeout=5)
        if resp.json().get("reason") == "in_flight" or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


def metric_reaches(replica, line: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while line not in replica.get("/metrics").text:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def publish_indexed(tiny) -> str:
    art = tiny_artifacts(seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = publish_artifacts(
            tiny.store, MODEL, art, tmp, metrics={}, popular_items=art.items[:20],
            data_fingerprint="tiny-7", index=IndexParams(),
        )  # fmt: skip
    tiny.store.promote(MODEL, manifest.version, force=True, reason="test")
    return manifest.version


def start_router(*upstreams: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = ["--port", str(port), "--retries", "2", "--discovery-interval", "0.1"]
    for up in upstreams:
        args += ["--upstream", up]
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.router", *args],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, "the router exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered 200"
        time.sleep(0.1)


def test_shed_requests_get_429_and_the_router_answers_them_elsewhere(tiny_store, start_replica):
    version = publish_indexed(tiny_store)
    shedding = start_replica(
        tiny_store.url, args=[*SHED_EVERYTHING, *ONE_IN_FLIGHT], replica_id="shedder"
    )
    healthy = start_replica(tiny_store.url, args=["--search", "exact"], replica_id="healthy")

    direct = httpx.post(f"{shedding.url}/v1/recommend", json={"user_id": "u1"}, timeout=5)
    assert direct.status_code == 429 and direct.headers["retry-after"] == "1"
    assert direct.json()["error"] == "overloaded" and direct.json()["reason"] == "queue_time"
    assert 'recdrill_replica_shed_total{reason="queue_time"} 1.0' in shedding.get("/metrics").text

    held = hold_one_request(shedding.url)  # the one in-flight slot is taken, unanswered
    try:
        capped = refused_while_held(shedding.url)
        assert capped.status_code == 429 and capped.headers["retry-after"] == "1"
        assert capped.json()["reason"] == "in_flight"
        in_flight_shed = 'recdrill_replica_shed_total{reason="in_flight"} 1.0'
        assert in_flight_shed in shedding.get("/metrics").text
    finally:
        held.close()  # the held request ends (client gone) and gives its slot back
    assert metric_reaches(shedding, 'route="/v1/recommend",status="400"} 1.0')
    info = shedding.get("/v1/model").json()
    assert info["version"] == version and info["search"] == "approximate"
    assert info["index"]["recall@20"] >= 0.95
    assert healthy.get("/v1/model").json()["search"] == "exact"
    assert 'recdrill_replica_search{search="exact"} 1.0' in healthy.get("/metrics").text

    proc, base = start_router(f"active@z1={shedding.url}", f"active@z2={healthy.url}")
    try:
        wait_for(f"{base}/readyz", proc)
        bodies = [
            httpx.post(f"{base}/v1/recommend", json={"user_id": f"u{i}"}, timeout=5)
            for i in range(12)
        ]
        assert {r.status_code for r in bodies} == {200}
        assert {(r.json()["replica"], r.json()["degraded"]) for r in bodies} == {("healthy", False)}
        assert 'result="shed"' in httpx.get(f"{base}/metrics").text

        healthy.kill_group()  # only the shedding replica is left: the fallback answers
        answer = httpx.post(f"{base}/v1/recommend", json={"user_id": "u1", "k": 3}, timeout=5)
        assert answer.status_code == 200 and answer.json()["degraded"] is True
        assert len(answer.json()["items"]) == 3
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
