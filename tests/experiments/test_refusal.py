"""check_refusal reads the refusal from the restarted replica itself, on both platforms."""

from __future__ import annotations

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import kubernetes as k8s
from experiments.faults import local
from experiments.faults.refusal import CORRUPTED, verification_failures
from tests.experiments.fake_kubernetes import ACTIVE, fake_kubernetes
from tests.experiments.fakes import json_server

METRICS = """# TYPE recdrill_replica_model_load_failures_total counter
recdrill_replica_model_load_failures_total{{reason="store_unreachable"}} 3.0
recdrill_replica_model_load_failures_total{{reason="verification_failed"}} {failures}
"""


def _replica(failures: float, serving: str | None):
    def route(method, path, query, body):
        if path == "/metrics":
            return 200, METRICS.format(failures=failures)
        if serving is None:
            return 503, {"error": "not_ready"}
        return 200, {"version": serving}

    return json_server(route)


def test_only_verification_failures_count():
    assert verification_failures(METRICS.format(failures=2.0)) == 2.0
    assert verification_failures("recdrill_replica_model_loads_total 1.0\n") == 0


def _controller(replica_url: str, new_pid: int):
    listing = [{"id": "a-1", "pid": 11, "state": "ready", "url": replica_url, "zone": "local-a"}]

    def route(method, path, query, body):
        if path == "/v1/replicas/signal":
            listing[0]["pid"] = new_pid
            return 200, {
                "affected": [{"id": "a-1", "pid": 11, "zone": "local-a", "signal": "TERM"}]
            }
        return 200, {"replicas": listing, "zones": {}}

    return json_server(route)


def _local_config(tmp_path, url: str) -> dict:
    path = str(tmp_path / "state.json")
    state.note(path, CORRUPTED, version="v1", file="model.safetensors", mode="silent")
    return {"control_url": url, "state_file": path, "zones": []}


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("RECDRILL_CONTROL_TOKEN", "t")


@pytest.mark.parametrize(
    ("failures", "serving", "outcome"),
    [
        (1.0, "v0", "refused"),
        (2.0, None, "refused"),
        (1.0, "v1", "serves the corrupted version v1"),
        (0.0, "v0", "no refusal of v1 seen"),
    ],
)
def test_local_check_refusal(tmp_path, failures, serving, outcome):
    with _replica(failures, serving) as replica, _controller(replica.url, 12) as control:
        config = _local_config(tmp_path, control.url)
        local.restart_replicas("role=active", count=1, wait_ready=False, configuration=config)
        if outcome != "refused":
            with pytest.raises(ActivityFailed, match=outcome):
                local.check_refusal(0.3, configuration=config)
            return
        shown = local.check_refusal(2, configuration=config)
    assert shown["refused"]["a-1"] == {"verification_failures": failures, "serving": serving}


def test_local_check_refusal_waits_for_a_new_process(tmp_path):
    with _replica(1.0, "v0") as replica, _controller(replica.url, 11) as control:
        config = _local_config(tmp_path, control.url)
        local.restart_replicas("role=active", count=1, wait_ready=False, configuration=config)
        with pytest.raises(ActivityFailed, match=r"from \['a-1'\]"):
            local.check_refusal(0.3, configuration=config)


@pytest.mark.parametrize(("serving", "refused"), [("v0", True), ("v1", False)])
def test_kubernetes_check_refusal_reads_the_new_pod(tmp_path, monkeypatch, serving, refused):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("CHAOSTOOLKIT_IN_POD", raising=False)
    selector = ",".join(f"{k}={v}" for k, v in ACTIVE.items())
    with fake_kubernetes() as cluster, _replica(1.0, serving) as replica:
        monkeypatch.setenv("KUBERNETES_HOST", cluster.server.url)
        cluster.replace_deleted = True
        config = {**_local_config(tmp_path, ""), "namespace": "recdrill"}
        (restarted,) = k8s.restart_replicas(selector, 1, False, configuration=config)
        (new,) = [p for p in cluster.pods.values() if p["metadata"]["name"].startswith(restarted)]
        new["status"]["podIP"] = "127.0.0.1"
        port = int(replica.url.rsplit(":", 1)[1])
        new["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": port}]
        if refused:
            assert new["metadata"]["name"] in k8s.check_refusal(2, configuration=config)["refused"]
        else:
            with pytest.raises(ActivityFailed, match="serves the corrupted version"):
                k8s.check_refusal(2, configuration=config)
