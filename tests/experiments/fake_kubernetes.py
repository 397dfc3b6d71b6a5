"""A fake Kubernetes API server: a real HTTP server speaking the few REST paths we use.

It holds nodes, pods and NetworkPolicies in memory and behaves like the API where our
faults depend on it: ``labelSelector`` and ``fieldSelector`` (``metadata.name`` on
nodes, ``spec.nodeName`` on pods), namespaces on pod and policy lists, PATCH only with a patch
content type (merge semantics; the lists we patch, taints and egress rules, are
replaced whole as the strategic merge does for them). With ``replace_deleted`` a
deleted pod comes back under a new name on a schedulable node without a ``NoExecute``
taint, as its ReplicaSet would bring it. Every request is recorded, so tests check
what a fault really asked the API to do.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.experiments.fakes import Server, json_server

ZONE = "topology.kubernetes.io/zone"
ACTIVE = {"app.kubernetes.io/name": "recdrill-replica", "recdrill.io/role": "active"}
STANDBY = {"app.kubernetes.io/name": "recdrill-replica", "recdrill.io/role": "standby"}
ROUTER = {"app.kubernetes.io/name": "recdrill-router"}
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")


def node(name: str, zone: str, unschedulable: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {ZONE: zone}},
        "spec": {"unschedulable": unschedulable},
    }


def pod(
    name: str, node_name: str, labels: dict[str, str], ready: bool = True, ns: str = "recdrill"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
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
    replace_deleted: bool = False
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


def _fields(obj: dict[str, Any], selector: str | None) -> bool:
    """``metadata.name=…`` and ``spec.nodeName=…`` field selectors, as the API filters."""
    for term in filter(None, (selector or "").split(",")):
        path, _, value = term.partition("=")
        section, _, key = path.partition(".")
        if (obj.get(section) or {}).get(key) != value:
            return False
    return True


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386: objects merge, ``null`` deletes, anything else (lists too) replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = value
    return target


def default_cluster() -> Cluster:
    cluster = Cluster()
    for name, zone in [("n-a1", "eu-west-1a"), ("n-a2", "eu-west-1a"), ("n-b1", "eu-west-1b")]:
        cluster.nodes[name] = node(name, zone)
    cluster.pods = {
        "r-a1": pod("r-a1", "n-a1", ACTIVE),
        "r-a2": pod("r-a2", "n-a2", ACTIVE),
        "r-b1": pod("r-b1", "n-b1", ACTIVE),
        "r-b2": pod("r-b2", "n-b1", ACTIVE, ready=False),
        "standby-a": pod("standby-a", "n-a2", STANDBY),
        "router-a": pod("router-a", "n-a1", ROUTER),
        "router-b": pod("router-b", "n-b1", ROUTER),
    }
    return cluster


def _status(code: int, reason: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "status": "Failure", "reason": reason, "code": code}


def _schedulable(n: dict[str, Any]) -> bool:
    taints = n["spec"].get("taints") or []
    return not n["spec"].get("unschedulable") and not any(
        t.get("effect") == "NoExecute" for t in taints
    )


@contextmanager
def fake_kubernetes(cluster: Cluster | None = None) -> Iterator[Cluster]:
    cluster = cluster or default_cluster()
    serial = itertools.count(1)

    def listing(kind: str, items: list[dict]) -> tuple[int, dict]:
        return 200, {"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items}

    def replace(gone: dict[str, Any]) -> None:
        """A ReplicaSet's replacement: same labels, a free schedulable node, ready."""
        nodes = [n for n in cluster.nodes.values() if _schedulable(n)]
        if not nodes:
            return
        load = {n["metadata"]["name"]: 0 for n in nodes}
        for p in cluster.pods.values():
            if p["spec"]["nodeName"] in load:
                load[p["spec"]["nodeName"]] += 1
        target = min(load, key=lambda name: (load[name], name))
        name = f"{gone['metadata']['name'].split('~')[0]}~{next(serial)}"
        meta = gone["metadata"]
        cluster.pods[name] = pod(name, target, meta["labels"], ns=meta["namespace"])

    def patch(obj: dict[str, Any], body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        kind = headers.get("Content-Type", "").split(";")[0].strip()
        if kind not in PATCH_TYPES or not isinstance(body, dict):
            return _status(415, f"PATCH with content type {kind!r} is not supported here")
        return 200, merge_patch(obj, body)

    def route(method: str, path: str, query: dict[str, str], body: Any, headers: dict) -> tuple:
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        if path == "/api/v1/nodes" and method == "GET":
            nodes = [
                n
                for n in cluster.nodes.values()
                if _selected(n["metadata"]["labels"], labels) and _fields(n, fields)
            ]
            return listing("NodeList", nodes)
        if m := re.fullmatch(r"/api/v1/nodes/([^/]+)", path):
            found = cluster.nodes.get(m[1])
            if found is None:
                return _status(404, "NotFound")
            return patch(found, body, headers) if method == "PATCH" else (200, found)
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path):
            pods = [
                p
                for p in cluster.pods.values()
                if p["metadata"]["namespace"] == m[1]
                and _selected(p["metadata"]["labels"], labels)
                and _fields(p, fields)
            ]
            return listing("PodList", pods)
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)", path):
            found = cluster.pods.get(m[2])
            if method != "DELETE" or found is None or found["metadata"]["namespace"] != m[1]:
                return _status(404, "NotFound")
            del cluster.pods[m[2]]
            if cluster.replace_deleted:
                replace(found)
            return 200, found
        base = r"/apis/networking.k8s.io/v1/namespaces/([^/]+)/networkpolicies"
        if m := re.fullmatch(base, path):
            if method == "GET":
                found = [
                    p
                    for p in cluster.policies.values()
                    if p["metadata"].get("namespace", m[1]) == m[1]
                ]
                return listing("NetworkPolicyList", found)
            if method != "POST":
                return _status(405, "MethodNotAllowed")
            name = body["metadata"]["name"]
            if name in cluster.policies:
                return _status(409, "AlreadyExists")
            cluster.policies[name] = body
            return 201, body
        if m := re.fullmatch(base + r"/([^/]+)", path):
            found = cluster.policies.get(m[2])
            if found is None or found["metadata"].get("namespace", m[1]) != m[1]:
                return _status(404, "NotFound")
            if method == "PATCH":
                return patch(found, body, headers)
            if method == "DELETE":
                del cluster.policies[m[2]]
            return 200, found
        return _status(404, f"no route {method} {path}")

    with json_server(route, with_headers=True) as server:
        cluster.server = server
        yield cluster
