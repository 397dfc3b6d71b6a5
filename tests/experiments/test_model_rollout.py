"""model-rollout: a good version through the real gate and back, and the convergence probe.

The store is a real ``file://`` store with a tiny model the gate can score; the probe
asks real HTTP servers on 127.0.0.1 (a controller listing replicas, replicas naming the
version they serve), one of which can be made to keep the old version.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import model_rollout
from experiments.probes import rollout
from experiments.rollback import rollback_state
from model.store import open_store
from tests.experiments.fakes import json_server
from tests.experiments.local_env import publish_evaluated_tiny_model
from tests.factories import publish_tiny_model

MODEL = "recommender"


@pytest.fixture
def config(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    stable = publish_evaluated_tiny_model(url)
    return {
        "model_store_url": url,
        "model_name": MODEL,
        "state_file": str(tmp_path / "state.json"),
        "stable": stable.version,
    }


def _stable(config) -> str:
    return open_store(config["model_store_url"]).resolve(MODEL, "stable")


def test_good_version_is_a_new_immutable_copy_that_the_gate_lets_through(config):
    published = model_rollout.publish_good_candidate(configuration=config)
    store = open_store(config["model_store_url"])
    new, old = published["new"], config["stable"]
    assert new != old and published["stable"] == old and _stable(config) == old
    copy, original = store.verify(MODEL, new), store.verify(MODEL, old)
    assert {n: f["sha256"] for n, f in copy.files.items()} == {
        n: f["sha256"] for n, f in original.files.items()
    }
    assert copy.data["parent"] == old
    assert model_rollout.promote_through_gate(configuration=config) == {
        "stable": new,
        "previous": old,
    }
    assert _stable(config) == new


def test_method_rollback_is_the_stores_and_is_idempotent(config):
    new = model_rollout.publish_good_candidate(configuration=config)["new"]
    model_rollout.promote_through_gate(configuration=config)
    first = model_rollout.roll_back_promotion(configuration=config)
    assert first == {"stable": config["stable"], "rolled_back_from": new}
    alias = open_store(config["model_store_url"]).read_alias(MODEL, "stable")
    assert model_rollout.roll_back_promotion(configuration=config)["stable"] == config["stable"]
    assert open_store(config["model_store_url"]).read_alias(MODEL, "stable") == alias
    assert model_rollout.rollback_candidate(configuration=config) == []
    assert state.pending(config["state_file"]) == []


def test_a_run_stopped_after_the_promotion_is_restored_by_its_rollback(config):
    new = model_rollout.publish_good_candidate(configuration=config)["new"]
    model_rollout.promote_through_gate(configuration=config)
    reverted, failed = rollback_state(config["state_file"])  # `experiments rollback`
    assert len(reverted) == 1 and new in reverted[0] and failed == []
    assert _stable(config) == config["stable"]


def test_gate_refusing_the_version_fails_the_promotion(config, tmp_path):
    url = f"file://{tmp_path / 'weak'}"
    weak = publish_tiny_model(open_store(url))  # random weights: below 1.2x popularity
    config = {**config, "model_store_url": url, "stable": weak.version}
    model_rollout.publish_good_candidate(configuration=config)
    with pytest.raises(ActivityFailed, match=r"the gate refused a good version: .*popularity"):
        model_rollout.promote_through_gate(configuration=config)
    assert _stable(config) == weak.version


def test_the_gate_runs_as_a_process_of_its_own_in_the_control_group(config):
    joined: list[dict] = []

    def control(method, path, query, body):
        joined.append({"method": method, "path": path, **(body or {})})
        return 200, {"group": "control", "pid": (body or {}).get("pid"), "isolated": True}

    with json_server(control) as server:
        conf = {**config, "control_url": server.url, "control_token": "t"}
        model_rollout.publish_good_candidate(configuration=conf)
        model_rollout.promote_through_gate(configuration=conf, secrets={"control_token": "t"})
    assert [(j["method"], j["path"], j["group"]) for j in joined] == [
        ("POST", "/v1/isolation/join", "control")
    ]
    assert joined[0]["pid"] != os.getpid(), "the gate's own process joins, not the chaos one"


def _environment(stack: ExitStack, serving: list[str]):
    """A controller listing one ready replica per entry of ``serving`` (its version) plus
    one unready replica that must be ignored."""
    replicas = []
    for index, version in enumerate(serving):
        server = stack.enter_context(
            json_server(lambda m, p, q, b, v=version: (200, {"version": v}))
        )
        replicas.append({"id": f"r{index}", "url": server.url, "state": "ready"})
    replicas.append({"id": "down", "url": "http://127.0.0.1:9", "state": "starting"})
    control = stack.enter_context(
        json_server(lambda m, p, q, b: (200, {"replicas": replicas, "zones": {}}))
    )
    return control.url


def _probe_config(tmp_path, control_url: str) -> dict:
    path = str(tmp_path / "probe-state.json")
    state.note(path, rollout.ROLLOUT, new="v-new", old="v-old")
    return {"state_file": path, "control_url": control_url}


def test_probe_passes_once_every_ready_replica_serves_the_target(tmp_path):
    with ExitStack() as stack:
        conf = _probe_config(tmp_path, _environment(stack, ["v-new", "v-new", "v-new"]))
        result = rollout.every_replica_serves("new", 1.0, conf, {"control_token": "t"})
        assert result["version"] == "v-new" and result["replicas"] == 3
        with pytest.raises(ActivityFailed, match=r"serves v-old within 0.5 s: r0 \(v-new\)"):
            rollout.every_replica_serves("old", 0.5, conf, {"control_token": "t"})


def test_probe_fails_when_a_replica_keeps_the_old_version_past_the_bound(tmp_path):
    with ExitStack() as stack:
        conf = _probe_config(tmp_path, _environment(stack, ["v-new", "v-old", "v-new"]))
        with pytest.raises(ActivityFailed, match=r"within 0.6 s: r1 \(v-old\)$"):
            rollout.every_replica_serves("new", 0.6, conf, {"control_token": "t"})


def test_probe_fails_with_no_ready_replica_or_no_rollout_noted(tmp_path):
    with ExitStack() as stack:
        conf = _probe_config(tmp_path, _environment(stack, []))
        with pytest.raises(ActivityFailed, match="no replica is ready"):
            rollout.every_replica_serves("new", 0.3, conf, {"control_token": "t"})
        with pytest.raises(ActivityFailed, match="target must be one of new, old"):
            rollout.every_replica_serves("newest", 0.3, conf, {"control_token": "t"})
    empty = {"state_file": str(tmp_path / "none.json"), "control_url": "http://127.0.0.1:9"}
    with pytest.raises(ActivityFailed, match="no rollout noted"):
        rollout.every_replica_serves("new", 0.3, empty, {"control_token": "t"})
