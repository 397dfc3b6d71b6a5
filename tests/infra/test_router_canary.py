"""The router canary's script against a real HTTP server on loopback: it passes a router
within the SLO and fails (raises, so Synthetics counts a failed run) one outside it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.aws import router_canary


class _Router(BaseHTTPRequestHandler):
    """Answers like the router; ``failures`` of them 503, each after ``delay_s``."""

    failures = 0
    delay_s = 0.0
    ready = True
    degraded = False

    def do_GET(self) -> None:
        if self.path != "/readyz":
            self.send_error(404)
            return
        self.send_response(200 if type(self).ready else 503)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        time.sleep(type(self).delay_s)
        if self.path != "/v1/recommend":
            self.send_error(404)
            return
        if type(self).failures > 0:
            type(self).failures -= 1
            self.send_error(503)
            return
        degraded = type(self).degraded
        body = json.dumps({"items": ["a"], "scores": [1.0], "degraded": degraded}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Router]]:
    handler = type(
        "Router", (_Router,), {"failures": 0, "delay_s": 0.0, "ready": True, "degraded": False}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ROUTER_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("REQUESTS", "10")
    monkeypatch.setenv("TIMEOUT_S", "3")
    monkeypatch.setenv("MAX_ERROR_RATIO", "0.001")
    # Generous: a loaded CI box must not make the healthy case fail.
    monkeypatch.setenv("P99_MS", "1000")
    monkeypatch.setenv("READY_PATH", "/readyz")
    monkeypatch.setenv("MAX_DEGRADED_RATIO", "0.05")
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_router_within_its_slo_passes(router: type[_Router]) -> None:
    result = router_canary.handler()
    assert result["requests"] == 10 and result["errors"] == 0
    assert result["p99_ms"] < 1000


def test_one_error_in_the_burst_fails_the_run(router: type[_Router]) -> None:
    router.failures = 1
    with pytest.raises(RuntimeError, match=r"error ratio 0\.100 over the budget 0\.001"):
        router_canary.handler()


def test_a_slow_router_fails_the_run(
    router: type[_Router], monkeypatch: pytest.MonkeyPatch
) -> None:
    router.delay_s = 1.2
    monkeypatch.setenv("REQUESTS", "2")
    with pytest.raises(RuntimeError, match=r"p99 1\d{3} ms over the budget 1000 ms"):
        router_canary.handler()


def test_an_unreachable_router_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_URL", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("TIMEOUT_S", "1")
    monkeypatch.setenv("MAX_ERROR_RATIO", "0.001")
    monkeypatch.setenv("P99_MS", "250")
    monkeypatch.setenv("REQUESTS", "3")
    with pytest.raises(RuntimeError, match=r"error ratio 1\.000"):
        router_canary.handler()


def test_readiness_canary_passes_a_ready_router(router: type[_Router]) -> None:
    result = router_canary.readiness_handler()
    assert result["status"] == 200 and result["requests"] == 10
    assert result["degraded"] == 0 and result["errors"] == 0


def test_readiness_canary_fails_a_ready_router_that_answers_only_popular_items(
    router: type[_Router],
) -> None:
    """A router with no replica left stays ready on its popular items: the region must
    still lose the traffic to one that has a model."""
    router.degraded = True
    with pytest.raises(RuntimeError, match="ready but not recommending: 10 degraded and 0 failed"):
        router_canary.readiness_handler()


def test_readiness_canary_counts_failed_answers_against_the_region(
    router: type[_Router],
) -> None:
    router.failures = 1
    with pytest.raises(RuntimeError, match="0 degraded and 1 failed of 10"):
        router_canary.readiness_handler()


def test_readiness_canary_fails_an_unready_router(router: type[_Router]) -> None:
    router.ready = False
    with pytest.raises(RuntimeError, match="router not ready: /readyz answered 503"):
        router_canary.readiness_handler()


def test_readiness_canary_fails_when_nothing_answers(
    router: type[_Router], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("READY_PATH", "/not-the-readiness-path")
    with pytest.raises(RuntimeError, match="answered 404"):
        router_canary.readiness_handler()
    monkeypatch.setenv("ROUTER_URL", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="answered nothing"):
        router_canary.readiness_handler()
