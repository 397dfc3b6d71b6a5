"""Where the router learns its upstreams: a static list, the local controller, or Kubernetes
(EndpointSlices of the active and standby Services, or their headless-Service DNS).

Every source is a callable returning the full current list; the router polls it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp

from serving.router.upstreams import ROLES, UpstreamSpec

log = logging.getLogger("serving.router.discovery")
TOKEN_ENV = "RECDRILL_CONTROL_TOKEN"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# What the router polls for the current upstream list (static, controller, Kubernetes).
UpstreamSource = Callable[[], Awaitable[list[UpstreamSpec]]]


class DiscoveryError(ValueError):
    """A discovery option the operator got wrong."""


# ---- static --------------------------------------------------------------------------
def parse_static(values: Iterable[str]) -> list[UpstreamSpec]:
    """``ROLE[@ZONE]=URL`` items, e.g. ``active@local-a=http://127.0.0.1:8001``."""
    specs = []
    for i, value in enumerate(values):
        head, sep, url = value.partition("=")
        role, _, zone = head.partition("@")
        if not sep or role not in ROLES or not url.startswith(("http://", "https://")):
            raise DiscoveryError(
                f"--upstream {value!r}: expected ROLE[@ZONE]=http://HOST:PORT with ROLE in {ROLES}"
            )
        specs.append(UpstreamSpec(f"{role}-{i}", url.rstrip("/"), role, zone or None))
    return specs


def static_source(specs: list[UpstreamSpec]) -> UpstreamSource:
    async def source() -> list[UpstreamSpec]:
        return list(specs)

    return source


# ---- local controller ----------------------------------------------------------------
SERVING_STATES = ("starting", "ready", "unready", "stopped")


def specs_from_controller(view: Mapping[str, Any]) -> list[UpstreamSpec]:
    """Replicas with a live process; ``backoff``/``pending``/``terminating`` ones are left out."""
    return [
        UpstreamSpec(r["id"], r["url"], r["role"], r["zone"], ready=r["state"] == "ready")
        for r in view.get("replicas", [])
        if r.get("url") and r.get("state") in SERVING_STATES
    ]


def controller_source(control_url: str, token: str) -> UpstreamSource:
    """Polls the controller's ``GET /v1/replicas`` (its own small session, made on first use)."""
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=1.0)
    sessions: list[aiohttp.ClientSession] = []

    async def source() -> list[UpstreamSpec]:
        if not sessions:
            sessions.append(aiohttp.ClientSession())
        async with sessions[0].get(
            f"{control_url.rstrip('/')}/v1/replicas", headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                raise DiscoveryError(f"controller answered {resp.status}: {await resp.text()}")
            return specs_from_controller(await resp.json())

    async def aclose() -> None:
        for session in sessions:
            await session.close()

    source.aclose = aclose  # type: ignore[attr-defined]
    return source


# ---- Kubernetes ----------------------------------------------------------------------
def specs_from_endpointslices(
    slices: Iterable[Mapping[str, Any]], role: str, port_name: str = "http"
) -> list[UpstreamSpec]:
    """Ready endpoints of discovery.k8s.io/v1 EndpointSlices, with their zone."""
    specs: dict[str, UpstreamSpec] = {}
    for item in slices:
        address_type = item.get("addressType", "IPv4")
        if address_type == "FQDN":
            continue
        ports = item.get("ports") or []
        port = next((p.get("port") for p in ports if p.get("name") == port_name), None)
        if port is None and len(ports) == 1:
            port = ports[0].get("port")
        if port is None:
            continue
        for endpoint in item.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready") is False:
                continue
            ref = endpoint.get("targetRef") or {}
            for address in endpoint.get("addresses") or []:
                host = f"[{address}]" if address_type == "IPv6" else address
                url = f"http://{host}:{port}"
                name = ref.get("name") or address
                specs[url] = UpstreamSpec(name, url, role, endpoint.get("zone"), ready=True)
                break
    return list(specs.values())


def endpointslice_source(
    namespace: str, services: Mapping[str, str], port_name: str = "http", api: Any = None
) -> UpstreamSource:
    """Lists the EndpointSlices of each role's Service through the Kubernetes API."""
    if api is None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        api = client.DiscoveryV1Api()

    def fetch() -> list[UpstreamSpec]:
        specs: list[UpstreamSpec] = []
        for role, service in services.items():
            resp = api.list_namespaced_endpoint_slice(
                namespace,
                label_selector=f"{SERVICE_NAME_LABEL}={service}",
                _preload_content=False,
            )
            items = json.loads(resp.data).get("items", [])
            specs += specs_from_endpointslices(items, role, port_name)
        return specs

    async def source() -> list[UpstreamSpec]:
        return await asyncio.to_thread(fetch)

    return source


def dns_source(
    namespace: str,
    services: Mapping[str, str],
    port: int,
    resolve: Callable[[str, int], list[str]] | None = None,
    domain: str = "svc.cluster.local",
) -> UpstreamSource:
    """Headless-Service DNS: each A/AAAA record of ``<svc>.<ns>.svc`` is one replica."""

    def default_resolve(host: str, p: int) -> list[str]:
        infos = socket.getaddrinfo(host, p, type=socket.SOCK_STREAM)
        return sorted({info[4][0] for info in infos})

    resolver = resolve or default_resolve

    def fetch() -> list[UpstreamSpec]:
        specs = []
        for role, service in services.items():
            host = f"{service}.{namespace}.{domain}" if domain else f"{service}.{namespace}"
            try:
                addresses = resolver(host, port)
            except OSError as exc:
                log.warning("cannot resolve %s: %s", host, exc)
                continue
            for address in addresses:
                shown = f"[{address}]" if ":" in address else address
                specs.append(UpstreamSpec(f"{role}-{address}", f"http://{shown}:{port}", role))
        return specs

    async def source() -> list[UpstreamSpec]:
        return await asyncio.to_thread(fetch)

    return source


def control_token() -> str:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise DiscoveryError(f"--discovery local needs the control token in env {TOKEN_ENV}")
    return token
