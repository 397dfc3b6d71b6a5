"""The drill in the environment's drill group, and its wait for a full warm pool."""

from __future__ import annotations

import os

from contracts.deployment import Deployment
from experiments.isolation_join import isolation_configuration, join_drill_group, wait_warm_pool
from tests.experiments.fakes import json_server, write_deployment


def _deployment(tmp_path, url: str) -> Deployment:
    return Deployment.load(write_deployment(tmp_path, control={"url": url, "token": "t"}))


def test_an_isolated_environment_takes_the_drill_into_its_group(tmp_path):
    seen = []

    def control(method, path, query, body):
        seen.append((method, path, body))
        if path == "/v1/isolation":
            return 200, {"isolated": True, "mechanism": "cgroup-v2", "replica_cpu": 0.12,
                         "reserved_cpu": {"router": 0.45}, "host_cpus": 2}  # fmt: skip
        return 200, {"group": "drill", "pid": body["pid"], "isolated": True}

    with json_server(control) as server:
        record = join_drill_group(_deployment(tmp_path, server.url))
    assert ("POST", "/v1/isolation/join", {"group": "drill", "pid": os.getpid()}) in seen
    assert record["isolation"] == "cgroup-v2"
    assert "each replica a node of 120m CPU" in record["isolation_note"]


def test_an_unisolated_one_is_said_in_one_line(tmp_path):
    lines = []
    with json_server(lambda m, p, q, b: (200, {"isolated": False, "reason": "no cgroup"})) as s:
        record = join_drill_group(_deployment(tmp_path, s.url), say=lines.append)
    assert record == {"isolation": "none", "isolation_note": "no cgroup"}
    assert lines == ["warning: no cgroup; the drill's figures depend on the machine"]
    assert isolation_configuration({})["isolation"] == "none"


def test_the_drill_waits_for_the_warm_pool_to_fill(tmp_path):
    polls = []

    def control(method, path, query, body):
        polls.append(path)
        ready = 3 if len(polls) >= 3 else len(polls)
        return 200, {"replicas": [], "zones": {}, "warm_pool": {"size": 3, "ready": ready}}

    with json_server(control) as server:
        waited = wait_warm_pool(_deployment(tmp_path, server.url), timeout_s=10)
    assert waited is not None and len(polls) == 3
