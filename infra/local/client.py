"""A small synchronous client for the control API (tests, the bench, experiments)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from infra.local.config import DEPLOYMENT_FILE


class ControlClient:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    @classmethod
    def from_deployment(cls, deployment: dict[str, Any]) -> ControlClient:
        return cls(deployment["control"]["url"], deployment["control"]["token"])

    @classmethod
    def from_workdir(cls, workdir: str | Path) -> ControlClient:
        return cls.from_deployment(json.loads((Path(workdir) / DEPLOYMENT_FILE).read_text()))

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs) -> dict[str, Any]:
        resp = self.http.request(method, path, **kwargs)
        resp.raise_for_status()
        return resp.json()

    def replicas(self, selector: str | None = None) -> list[dict[str, Any]]:
        params = {"selector": selector} if selector else None
        return self._call("GET", "/v1/replicas", params=params)["replicas"]

    def zones(self) -> dict[str, str]:
        return self._call("GET", "/v1/zones")["zones"]

    def delete(self, selector: str, signal: str = "KILL", **pick: Any) -> list[dict[str, Any]]:
        body = {"selector": selector, "signal": signal, **pick}
        return self._call("POST", "/v1/replicas/delete", json=body)["affected"]

    def restart(self, selector: str) -> list[str]:
        body = {"selector": selector, "rolling": True}
        return self._call("POST", "/v1/replicas/restart", json=body, timeout=600)["restarted"]

    def zone_down(self, zone: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/zones/{zone}/down")

    def zone_up(self, zone: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/zones/{zone}/up")

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
