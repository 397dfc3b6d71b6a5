"""The one client for the local control API: the CLI, the benchmarks, the fault driver, rollback.

Every failure (unreachable controller, 4xx/5xx answer, a body that is not JSON) becomes a
``ControlError`` naming the route, so each caller turns it into its own kind of error
(a CLI message, an ``ActivityFailed``) without parsing ``httpx`` exceptions itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from infra.local.config import DEPLOYMENT_FILE

SIGNALS = ("TERM", "KILL", "STOP", "CONT")
SIGNAL_ROUTE = "/v1/replicas/signal"
RESTART_ROUTE = "/v1/replicas/restart"


class ControlError(RuntimeError):
    """A control API call failed; the message names the method, route and cause."""


class ControlClient:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    @classmethod
    def from_deployment(cls, deployment: dict[str, Any], timeout: float = 30.0) -> ControlClient:
        return cls(deployment["control"]["url"], deployment["control"]["token"], timeout)

    @classmethod
    def from_workdir(cls, workdir: str | Path) -> ControlClient:
        return cls.from_deployment(json.loads((Path(workdir) / DEPLOYMENT_FILE).read_text()))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request; JSON object back, or ``ControlError`` naming the route."""
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ControlError(f"control API {method} {path}: {exc}") from exc
        try:
            data = resp.json()
        except ValueError:
            data = {"detail": resp.text[:200]}
        if resp.status_code >= 400:
            detail = data.get("detail") or data.get("error") or data
            raise ControlError(f"control API {method} {path} → {resp.status_code}: {detail}")
        if not isinstance(data, dict):
            raise ControlError(f"control API {method} {path}: answer is not a JSON object")
        return data

    def view(self, selector: str | None = None) -> dict[str, Any]:
        """The replicas matching ``selector`` and the zones' states, as the API gives them."""
        params = {"selector": selector} if selector else None
        return self.call("GET", "/v1/replicas", params=params)

    def replicas(self, selector: str | None = None) -> list[dict[str, Any]]:
        return self.view(selector)["replicas"]

    def zones(self) -> dict[str, str]:
        return self.call("GET", "/v1/zones")["zones"]

    def router(self) -> dict[str, Any]:
        return self.call("GET", "/v1/router")

    def signal_replicas(
        self,
        selector: str,
        signal: str = "KILL",
        count: int | None = None,
        percent: float | None = None,
    ) -> list[dict[str, Any]]:
        """Send ``signal`` to the matching replicas (or ``count``/``percent`` of them)."""
        if signal not in SIGNALS:
            raise ControlError(f"signal {signal!r} is not one of {', '.join(SIGNALS)}")
        body: dict[str, Any] = {"selector": selector, "signal": signal}
        if count is not None:
            body["count"] = count
        if percent is not None:
            body["percent"] = percent
        return self.call("POST", SIGNAL_ROUTE, json=body)["affected"]

    def restart(self, selector: str, timeout: float = 600.0) -> list[str]:
        """Replace the matching replicas one at a time; the controller waits for each."""
        body = {"selector": selector, "rolling": True}
        return self.call("POST", RESTART_ROUTE, json=body, timeout=timeout)["restarted"]

    def zone_down(self, zone: str) -> dict[str, Any]:
        return self.call("POST", f"/v1/zones/{zone}/down")

    def zone_up(self, zone: str) -> dict[str, Any]:
        return self.call("POST", f"/v1/zones/{zone}/up")

    def zone_hang(self, zone: str) -> dict[str, Any]:
        """Partition the zone: its replicas freeze (connections hang, none is refused)."""
        return self.call("POST", f"/v1/zones/{zone}/hang")

    def isolation(self) -> dict[str, Any]:
        """The CPU isolation in force, with each group's CPU use and throttling."""
        return self.call("GET", "/v1/isolation")

    def join(self, group: str, pid: int) -> dict[str, Any]:
        """Move ``pid`` (and what it starts later) into the ``drill`` or ``control`` group."""
        return self.call("POST", "/v1/isolation/join", json={"group": group, "pid": pid})

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0
    ) -> float:
        """Poll the replica list until ``predicate`` holds; returns the seconds it took."""
        start = time.monotonic()
        while True:
            if predicate(self.replicas()):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"replicas did not reach the wanted state in {timeout:.0f}s")
            time.sleep(0.1)


def all_ready(replicas: list[dict[str, Any]]) -> bool:
    return all(r["state"] == "ready" for r in replicas)
