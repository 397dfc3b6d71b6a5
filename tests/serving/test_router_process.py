"""``python -m serving.router`` as a real process: flags, operational routes, store seeding."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra.local.procs import free_port
from model.store import open_store
from tests.factories import publish_tiny_model
from tests.serving.conftest import refused_port

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def router_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "serving.router", *args]


def run_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--discovery", "static"], "needs at least one --upstream"),
        (["--upstream", "primary=http://x:1"], "ROLE"),
        (["--upstream", "active=http://x:1", "--retries", "-1"], "between 0 and 10"),
        (["--discovery", "local"], "--control-url"),
        (["--upstream", "active=http://x:1", "--fallback", "maybe"], "on or off"),
    ],
)
def test_bad_flags_exit_with_a_message(args, message):
    env = run_env()
    env.pop("RECDRILL_CONTROL_TOKEN", None)
    result = subprocess.run(
        router_cmd(*args), capture_output=True, text=True, env=env, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_router_with_dead_upstreams_serves_store_popular_items(tmp_path):
    with refused_port() as dead:
        _check_router_with_dead_upstream(tmp_path, dead)


def _check_router_with_dead_upstream(tmp_path: Path, dead: int) -> None:
    store_url = f"file://{tmp_path / 'store'}"
    manifest = publish_tiny_model(open_store(store_url), "recommender")
    port = free_port()
    proc = subprocess.Popen(
        router_cmd(
            "--port",
            str(port),
            "--upstream",
            f"active@z1=http://127.0.0.1:{dead}",
            "--store",
            store_url,
            "--model",
            "recommender",
            "--retries",
            "0",
        ),
        env=run_env(),
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "router did not start"
            time.sleep(0.1)
        assert httpx.get(f"{base}/readyz").status_code == 200, "popular items make it ready"
        resp = httpx.post(f"{base}/v1/recommend", json={"user_id": "u1", "k": 4})
        body = resp.json()
        assert resp.status_code == 200 and body["degraded"] is True
        assert body["items"] == manifest.popular_items[:4]
        assert body["model_version"] == manifest.version
        assert httpx.post(f"{base}/v1/recommend", json={"k": 4}).status_code == 422
        assert httpx.get(f"{base}/v1/recommend").status_code == 405
        assert httpx.get(f"{base}/nope").status_code == 404
        model = httpx.get(f"{base}/v1/model").json()
        assert model["version"] == manifest.version and model["source"] == "store"
        ups = httpx.get(f"{base}/v1/upstreams").json()["upstreams"]
        assert [(u["zone"], u["state"]) for u in ups] in (
            [("z1", "unhealthy")],
            [("z1", "ejected")],
        )
        metrics = httpx.get(f"{base}/metrics").text
        assert 'recdrill_router_degraded_total{reason="no_healthy_upstream"}' in metrics
        assert 'recdrill_router_requests_total{outcome="client_error"} 1.0' in metrics
        assert "recdrill_router_upstream_state" in metrics
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()


def test_fallback_off_with_every_upstream_frozen_fails_the_outage_probe(tmp_path):
    """What serving-outage guards against, with a real router: its upstream keeps its socket
    open and answers nothing (a SIGSTOPped replica), and with ``--fallback off`` users get
    503s, which the experiment's hold probe fails on."""
    from chaoslib.exceptions import ActivityFailed

    from experiments.probes.outage import fallback_serves_everyone

    with socket.socket() as frozen:
        frozen.bind(("127.0.0.1", 0))
        frozen.listen(64)  # the kernel accepts connections; nothing ever reads or answers
        upstream = f"active@z1=http://127.0.0.1:{frozen.getsockname()[1]}"
        port = free_port()
        args = ("--port", str(port), "--upstream", upstream, "--fallback", "off")
        proc = subprocess.Popen(
            router_cmd(*args, "--try-timeout", "0.1", "--retries", "0"),
            env=run_env(),
            cwd=REPO_ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_alive(base, proc)
            with pytest.raises(ActivityFailed) as failed:
                fallback_serves_everyone(base, duration_s=0.5, rate_rps=20, timeout_s=2.0)
            answer = httpx.post(f"{base}/v1/recommend", json={"user_id": "u1"}, timeout=5)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "availability 0.00% below 99.90%" in str(failed.value)
    assert "'503': 10" in str(failed.value)
    assert answer.status_code == 503 and "fallback is turned off" in answer.json()["detail"]


def _wait_alive(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "router did not start"
        time.sleep(0.1)
