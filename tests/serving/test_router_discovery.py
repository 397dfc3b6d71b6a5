"""Discovery sources: static flags, the local controller's view, Kubernetes EndpointSlices
(recorded API objects, since no cluster is here) and headless-Service DNS."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from serving.router.discovery import (
    DiscoveryError,
    dns_source,
    endpointslice_source,
    parse_static,
    specs_from_controller,
    specs_from_endpointslices,
)

SLICES = json.loads((Path(__file__).parent / "router_endpointslices.json").read_text())["items"]


def by_service(name: str) -> list[dict]:
    return [s for s in SLICES if s["metadata"]["labels"]["kubernetes.io/service-name"] == name]


def test_endpointslices_give_ready_endpoints_with_zone_and_named_port():
    specs = specs_from_endpointslices(by_service("recdrill-active"), "active")
    got = {(s.id, s.url, s.zone) for s in specs}
    assert got == {
        ("recdrill-replica-6d9f8-abcde", "http://10.0.1.17:8080", "eu-west-1a"),
        ("recdrill-replica-6d9f8-fghij", "http://10.0.2.33:8080", "eu-west-1b"),
        ("recdrill-replica-6d9f8-klmno", "http://10.0.3.41:8080", "eu-west-1c"),
    }, "not-ready and terminating endpoints are left out; duplicates across slices merge"
    assert all(s.role == "active" for s in specs)


def test_endpointslices_ipv6_and_empty_slices():
    specs = specs_from_endpointslices(by_service("recdrill-standby"), "standby")
    assert [(s.url, s.zone, s.role) for s in specs] == [
        ("http://[fd00:10:0:2::5]:8080", "eu-west-1b", "standby")
    ]


class RecordedDiscoveryApi:
    """Stands in for kubernetes.client.DiscoveryV1Api: answers from the recorded objects."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def list_namespaced_endpoint_slice(self, namespace, label_selector, _preload_content):
        assert _preload_content is False
        self.calls.append((namespace, label_selector))
        service = label_selector.split("=", 1)[1]
        body = {"kind": "EndpointSliceList", "items": by_service(service)}
        return type("Resp", (), {"data": json.dumps(body).encode()})()


def test_endpointslice_source_lists_each_role_by_service_name_label():
    api = RecordedDiscoveryApi()
    source = endpointslice_source(
        "recdrill", {"active": "recdrill-active", "standby": "recdrill-standby"}, api=api
    )
    specs = asyncio.run(source())
    assert api.calls == [
        ("recdrill", "kubernetes.io/service-name=recdrill-active"),
        ("recdrill", "kubernetes.io/service-name=recdrill-standby"),
    ]
    assert sorted(s.role for s in specs) == ["active", "active", "active", "standby"]


def test_dns_source_builds_one_upstream_per_record():
    asked = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if "standby" in host:
            raise OSError("NXDOMAIN")
        return ["10.0.1.5", "10.0.2.6"]

    source = dns_source("shop", {"active": "rec-active", "standby": "rec-standby"}, 8080, resolve)
    specs = asyncio.run(source())
    assert asked[0] == ("rec-active.shop.svc.cluster.local", 8080)
    assert [s.url for s in specs] == ["http://10.0.1.5:8080", "http://10.0.2.6:8080"]


def test_controller_view_keeps_live_replicas_only():
    view = {
        "replicas": [
            {"id": "a0", "url": "http://127.0.0.1:1", "role": "active", "zone": "local-a",
             "state": "ready"},
            {"id": "a1", "url": "http://127.0.0.1:2", "role": "active", "zone": "local-a",
             "state": "stopped"},
            {"id": "b0", "url": None, "role": "active", "zone": "local-b", "state": "backoff"},
            {"id": "s0", "url": "http://127.0.0.1:3", "role": "standby", "zone": "local-c",
             "state": "terminating"},
        ]
    }  # fmt: skip
    specs = specs_from_controller(view)
    assert [(s.id, s.ready) for s in specs] == [("a0", True), ("a1", False)]


def test_static_upstreams_parse_and_refuse_nonsense():
    specs = parse_static(["active@z1=http://127.0.0.1:8001/", "standby=http://127.0.0.1:8002"])
    assert [(s.role, s.zone, s.url) for s in specs] == [
        ("active", "z1", "http://127.0.0.1:8001"),
        ("standby", None, "http://127.0.0.1:8002"),
    ]
    for bad in ("primary=http://x:1", "active", "active=ftp://x"):
        with pytest.raises(DiscoveryError, match="ROLE"):
            parse_static([bad])
