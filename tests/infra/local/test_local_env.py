"""The local environment for real: controller, 7 replica processes and the router, with
real signals under steady load. One environment per module; each test restores it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.resources import LOCAL_REPLICA
from experiments.faults.partition import HANGS, answer_to
from experiments.probes.load import open_loop, summarise
from infra.local import procs
from infra.local.client import all_ready
from infra.local.isolation import parent_name
from tests.infra.local.conftest import LocalEnv, cli, env_pids, publish_store, start_env

pytestmark = pytest.mark.integration
RPS = 60
# At most this many requests in flight, as before the open-loop generator: a stall makes
# requests wait (charged to their latency, or counted late past the timeout) rather than
# pile onto the router; these tests are about faults, not overload.
IN_FLIGHT = 16


def load_with_fault(
    env: LocalEnv, duration: float, fault_at: float, fault: Callable[[], object]
) -> dict[str, Any]:
    """Open-loop load for ``duration`` s with ``fault`` at ``fault_at`` s; the load summary."""

    async def go() -> dict[str, Any]:
        load = asyncio.create_task(
            open_loop(env.endpoint, RPS, duration, timeout_s=5.0, max_in_flight=IN_FLIGHT)
        )
        await asyncio.sleep(fault_at)
        await asyncio.to_thread(fault)
        return summarise(await load)

    return asyncio.run(go())


def router_available(env: LocalEnv) -> int:
    counts = httpx.get(f"{env.endpoint}/v1/upstreams", timeout=5).json()["counts"]
    return sum(c["available"] for c in counts.values())


def restore(env: LocalEnv) -> None:
    """Every zone up, every replica ready in its home zone, the router seeing all of them."""
    for zone, state in env.control.zones().items():
        if state != "up":
            env.control.zone_up(zone)
    env.control.signal_replicas("app=recdrill-replica", signal="CONT")

    def settled(replicas: list[dict]) -> bool:
        return all_ready(replicas) and all(r["labels"]["home-zone"] == r["zone"] for r in replicas)

    env.control.wait_for(settled, timeout=90)
    deadline = time.monotonic() + 30
    while router_available(env) < len(env.control.replicas()):
        assert time.monotonic() < deadline, "router never saw every replica again"
        time.sleep(0.1)


def test_environment_is_up_and_described(local_env: LocalEnv):
    mode = os.stat(local_env.workdir / "deployment.json").st_mode & 0o777
    assert mode == 0o600
    d = local_env.deployment
    assert d["platform"] == "local" and d["zones"] == ["local-a", "local-b", "local-c"]
    replicas = local_env.control.replicas()
    assert sorted(r["id"] for r in replicas) == [
        "local-a-0", "local-a-1", "local-b-0", "local-b-1", "local-c-0", "local-c-1", "standby-0",
    ]  # fmt: skip
    assert [r["role"] for r in replicas].count("standby") == 1
    assert all(r["state"] == "ready" and procs.alive(r["pid"]) for r in replicas)
    for r in replicas:
        assert (local_env.workdir / "logs" / f"{r['id']}.log").is_file()
    status = cli("status", "--workdir", str(local_env.workdir), "--json", timeout=30)
    assert status.returncode == 0, status.stderr
    assert '"local-b-1"' in status.stdout and '"zones"' in status.stdout
    assert d["control"]["token"] not in local_env.up_output + status.stdout  # not in CI logs
    assert d["endpoint"] in local_env.up_output


def test_control_api_refuses_bad_tokens_and_selectors(local_env: LocalEnv):
    url = local_env.deployment["control"]["url"]
    assert httpx.get(f"{url}/v1/replicas", timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{url}/v1/replicas", headers=wrong, timeout=5).status_code == 401
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    auth = {"Authorization": f"Bearer {local_env.deployment['control']['token']}"}
    for body in (
        {"selector": "zone", "signal": "KILL"},
        {"selector": "zone=local-a", "signal": "HUP"},
        {"selector": "zone=local-a", "percent": 150},
        {"selector": "zone=local-a", "colour": "red"},
    ):
        resp = httpx.post(f"{url}/v1/replicas/signal", json=body, headers=auth, timeout=5)
        assert resp.status_code == 400, body
        assert resp.json()["detail"]
    resp = httpx.post(f"{url}/v1/zones/local-z/down", headers=auth, timeout=5)
    assert resp.status_code == 400 and "local-z" in resp.json()["detail"]
    assert all_ready(local_env.control.replicas()), "a refused request must change nothing"


def test_sigkilled_replica_costs_no_request_and_is_replaced(local_env: LocalEnv):
    victim = local_env.control.replicas("replica=local-a-0")[0]
    warm = set(local_env.control.http.get("/v1/replicas").json()["warm_pool"]["pids"])
    summary = load_with_fault(
        local_env, 5.0, 1.0, lambda: local_env.control.signal_replicas("replica=local-a-0", "KILL")
    )
    assert summary["errors"] == 0, summary
    assert not procs.alive(victim["pid"])
    local_env.control.wait_for(
        lambda rs: any(
            r["id"] == "local-a-0" and r["state"] == "ready" and r["pid"] != victim["pid"]
            for r in rs
        ),
        timeout=60,
    )
    replacement = local_env.control.replicas("replica=local-a-0")[0]
    assert replacement["restarts"] >= 1
    assert replacement["pid"] in warm, "the replacement came from the warm pool"
    restore(local_env)


def test_zone_loss_costs_no_request_and_capacity_comes_back(local_env: LocalEnv):
    summary = load_with_fault(local_env, 8.0, 1.0, lambda: local_env.control.zone_down("local-b"))
    assert summary["errors"] == 0, summary
    assert summary["degraded_ratio"] <= 0.01, summary
    local_env.control.wait_for(
        lambda rs: (
            sum(r["state"] == "ready" and r["role"] == "active" for r in rs) == 6
            and all(r["zone"] != "local-b" for r in rs)
        ),
        timeout=60,
    )
    restore(local_env)
    assert {r["zone"] for r in local_env.control.replicas("role=active")} == {
        "local-a", "local-b", "local-c",
    }  # fmt: skip


def _cgroup_of(pid: int, controller: str) -> str:
    """The pid's group in the v1 ``controller`` hierarchy, or its v2 group."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or controllers == "":
            return path
    return ""


def test_every_replica_is_held_to_its_own_cpu_budget(local_env: LocalEnv):
    isolation = local_env.control.isolation()
    if not isolation["isolated"]:
        pytest.skip(f"this machine cannot isolate: {isolation['reason']}")
    assert isolation["replica_cpu"] == LOCAL_REPLICA.cpu
    for replica in local_env.control.replicas():
        group = _cgroup_of(replica["pid"], "cpu")
        assert group.endswith(f"/replica-{replica['id']}"), (replica["id"], group)
        view = isolation["groups"][f"replica-{replica['id']}"]
        assert view["cpu_s"] is not None and view["cpu_s"] > 0
    quota = Path(f"/sys/fs/cgroup/cpu{group}/cpu.cfs_quota_us")
    if quota.exists():  # a ready replica is back at its node's budget (no start-up boost)
        assert int(quota.read_text()) == LOCAL_REPLICA.quota_us()
    routers = [
        pid
        for pid in env_pids(local_env.workdir)
        if b"serving.router" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert routers and all(_cgroup_of(pid, "cpu").endswith("/router") for pid in routers)


def test_zone_hang_hangs_connections_and_costs_no_request(local_env: LocalEnv):
    if not local_env.control.isolation()["isolated"]:
        pytest.skip("a zone hang freezes cgroups; this machine has none writable")
    before = {r["id"]: r["pid"] for r in local_env.control.replicas("zone=local-a")}
    try:
        summary = load_with_fault(
            local_env, 8.0, 1.0, lambda: local_env.control.zone_hang("local-a")
        )
        assert summary["errors"] == 0, summary
        assert summary["degraded_ratio"] <= 0.01, summary
        hung = local_env.control.replicas("zone=local-a")
        assert {r["id"]: r["pid"] for r in hung} == before, "nothing replaced during the hang"
        assert {r["state"] for r in hung} == {"unreachable"}
        assert {answer_to(r["url"]) for r in hung} == {HANGS}, "hangs, is not refused"
        assert local_env.control.zones()["local-a"] == "hung"
    finally:
        local_env.control.zone_up("local-a")
    restore(local_env)
    assert {r["id"]: r["pid"] for r in local_env.control.replicas("zone=local-a")} == before


def test_stopped_replica_is_ejected_and_p99_stays_bounded(local_env: LocalEnv):
    try:
        summary = load_with_fault(
            local_env,
            6.0,
            0.5,
            lambda: local_env.control.signal_replicas("replica=local-c-1", "STOP"),
        )
        assert summary["errors"] == 0, summary
        assert summary["p99_ms"] < 1500, summary
        stopped = local_env.control.replicas("replica=local-c-1")[0]
        assert stopped["state"] == "stopped" and procs.process_state(stopped["pid"]) == "T"
        upstreams = httpx.get(f"{local_env.endpoint}/v1/upstreams", timeout=5).json()
        states = {u["id"]: u["state"] for u in upstreams["upstreams"]}
        assert states["local-c-1"] in ("ejected", "unhealthy")
    finally:
        local_env.control.signal_replicas("replica=local-c-1", "CONT")
    restore(local_env)


def test_rolling_restart_replaces_the_process_without_failed_requests(local_env: LocalEnv):
    before = local_env.control.replicas("zone=local-b,role=active")
    restarted: list[str] = []
    summary = load_with_fault(
        local_env,
        10.0,
        0.5,
        lambda: restarted.extend(local_env.control.restart("zone=local-b,role=active")),
    )
    assert restarted == ["local-b-0", "local-b-1"]
    assert summary["errors"] == 0, summary
    after = local_env.control.replicas("zone=local-b,role=active")
    assert all(r["state"] == "ready" for r in after)
    assert {r["pid"] for r in after}.isdisjoint({r["pid"] for r in before})
    assert not any(procs.alive(r["pid"]) for r in before)
    restore(local_env)


def test_all_replicas_gone_still_answers_degraded_popular_items(local_env: LocalEnv):
    for zone in local_env.deployment["zones"]:
        local_env.control.zone_down(zone)
    try:
        assert all(r["pid"] is None for r in local_env.control.replicas())
        for _ in range(5):
            resp = httpx.post(
                f"{local_env.endpoint}/v1/recommend", json={"user_id": "u1", "k": 5}, timeout=5
            )
            body = resp.json()
            assert resp.status_code == 200
            assert body["degraded"] is True and body["reason"]
            assert len(body["items"]) == 5
    finally:
        restore(local_env)


def test_bad_input_is_a_4xx_from_the_router(local_env: LocalEnv):
    resp = httpx.post(f"{local_env.endpoint}/v1/recommend", json={"user_id": "u1", "k": 0})
    assert resp.status_code == 422 and resp.json()["detail"]
    resp = httpx.post(
        f"{local_env.endpoint}/v1/recommend",
        content=b"x" * 70_000,
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 413


def test_broken_router_fails_requests_and_sigkilled_controller_leaves_no_orphans(tmp_path):
    """The deliberately broken deployment (no retries, no ejection, no fallback) loses
    requests when a replica hangs, which proves the zero-failure checks above can fail; then a
    SIGKILLed controller must take every child with it."""
    store = publish_store(tmp_path / "store")
    workdir = tmp_path / "env"
    env = start_env(
        workdir, store, "--zones", "2", "--replicas-per-zone", "1", "--standby", "0",
        "--router-retries", "0", "--router-fallback", "off", "--router-ejection", "off",
    )  # fmt: skip
    try:
        assert env.deployment["router_options"] == {
            "retries": 0, "fallback": "off", "ejection": "off", "try_timeout": 0.1,
        }  # fmt: skip
        summary = load_with_fault(
            env, 3.0, 1.0, lambda: env.control.signal_replicas("zone=local-a", "STOP")
        )
        assert summary["errors"] > 0, summary
        pids = env_pids(workdir)
        # controller, two replicas (one stopped), router, one warm process
        assert len(pids) == 5, pids
        isolated = env.control.isolation()["isolated"]
        controller = int((workdir / "controller.pid").read_text())
        os.kill(controller, signal.SIGKILL)
        left = procs.wait_gone(pids, timeout=15)
        assert left == [], f"orphans after the controller was SIGKILLed: {left}"
        groups = [p for p in Path("/sys/fs/cgroup").glob(f"*/{parent_name(workdir)}")]
        assert bool(groups) == isolated, groups
        again = env.down()
        assert again.returncode == 0
        # the dead controller could not remove its cgroups; down does
        assert not [p for p in groups if p.exists()], groups
    finally:
        env.control.close()
        env.reap()


def test_cli_errors_are_one_line(tmp_path):
    result = cli("up", "--workdir", str(tmp_path / "x"), "--store", "file:///nope", "--zones", "0")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
    status = cli("status", "--workdir", str(tmp_path / "x"))
    assert status.returncode == 1 and "Traceback" not in status.stderr
    down = cli("down", "--workdir", str(tmp_path / "x"))
    assert down.returncode == 0
