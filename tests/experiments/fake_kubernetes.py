"""A fake Kubernetes API server: a real HTTP server speaking the few REST paths we use.

It holds nodes, pods and NetworkPolicies in memory, filters by ``labelSelector`` and
``fieldSelector=spec.nodeName=…``, and records every request, so tests can check what a
fault really asked the API to do (patch, delete with grace 0, no eviction, …).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.experiments.fakes import Server, json_server

ZONE = "topology.kubernetes.io/zone"
ACTIVE = {"app.kubernetes.io/name": "recdrill-replica", "recdrill.io/role": "active"}


def node(name: str, zone: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {ZONE: zone}},
        "spec": {"unschedulable": False},
    }


def pod(name: str, node_name: str, labels: dict[str, str], ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "recdrill", "labels": labels},
        "spec": {"nodeName": node_name, "containers": [{"name": "replica"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


@dataclass
class Cluster:
    nodes: dict[str, dict] = field(default_factory=dict)
    pods: dict[str, dict] = field(default_factory=dict)
    policies: dict[str, dict] = field(default_factory=dict)
    server: Server | None = None

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests if self.server else []


def _selected(labels: dict[str, str], selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def default_cluster() -> Cluster:
    cluster = Cluster()
    for name, zone in [("n-a1", "eu-west-1a"), ("n-a2", "eu-west-1a"), ("n-b1", "eu-west-1b")]:
        cluster.nodes[name] = node(name, zone)
    cluster.pods = {
        "r-a1": pod("r-a1", "n-a1", ACTIVE),
        "r-a2": pod("r-a2", "n-a2", ACTIVE),
        "r-b1": pod("r-b1", "n-b1", ACTIVE),
        "r-b2": pod("r-b2", "n-b1", ACTIVE, ready=False),
        "router-a": pod("router-a", "n-a1", {"app.kubernetes.io/name": "recdrill-router"}),
    }
    return cluster


@contextmanager
def fake_kubernetes(cluster: Cluster | None = None) -> Iterator[Cluster]:
    cluster = cluster or default_cluster()

    def listing(kind: str, items: list[dict]) -> tuple[int, dict]:
        return 200, {"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items}

    def route(method: str, path: str, query: dict[str, str], body: Any) -> tuple:
        if path == "/api/v1/nodes" and method == "GET":
            nodes = [
                n
                for n in cluster.nodes.values()
                if _selected(n["metadata"]["labels"], query.get("labelSelector"))
            ]
            return listing("NodeList", nodes)
        if m := re.fullmatch(r"/api/v1/nodes/([^/]+)", path):
            found = cluster.nodes.get(m[1])
            if found is None:
                return 404, {
                    "kind": "Status",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                }
            if method == "PATCH":
                found["spec"].update(body.get("spec", {}))
            return 200, found
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path):
            node_name = (query.get("fieldSelector") or "").removeprefix("spec.nodeName=")
            pods = [
                p
                for p in cluster.pods.values()
                if _selected(p["metadata"]["labels"], query.get("labelSelector"))
                and (not node_name or p["spec"]["nodeName"] == node_name)
            ]
            return listing("PodList", pods)
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)", path):
            if method == "DELETE" and m[2] in cluster.pods:
                return 200, cluster.pods.pop(m[2])
            return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
        base = r"/apis/networking.k8s.io/v1/namespaces/([^/]+)/networkpolicies"
        if re.fullmatch(base, path) and method == "POST":
            name = body["metadata"]["name"]
            if name in cluster.policies:
                return 409, {
                    "kind": "Status",
                    "status": "Failure",
                    "reason": "AlreadyExists",
                    "code": 409,
                }
            cluster.policies[name] = body
            return 201, body
        if (m := re.fullmatch(base + r"/([^/]+)", path)) and method == "DELETE":
            if cluster.policies.pop(m[2], None) is None:
                return 404, {
                    "kind": "Status",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                }
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}
        return 404, {
            "kind": "Status",
            "status": "Failure",
            "reason": f"no route {method} {path}",
            "code": 404,
        }

    with json_server(route) as server:
        cluster.server = server
        yield cluster
