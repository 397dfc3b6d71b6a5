"""A small client for the local controller's API (bearer token, JSON in and out)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from experiments.deployment import control_token

TIMEOUT_S = 60.0


def call(
    method: str,
    path: str,
    configuration: Mapping[str, Any] | None,
    secrets: Mapping[str, Any] | None,
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Call the control API; any failure becomes ActivityFailed naming the route."""
    base = (configuration or {}).get("control_url")
    if not base:
        raise ActivityFailed("configuration has no 'control_url': is this a local deployment?")
    url = f"{str(base).rstrip('/')}{path}"
    headers = {"Authorization": f"Bearer {control_token(configuration, secrets)}"}
    try:
        resp = httpx.request(
            method, url, json=body, params=params, headers=headers, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise ActivityFailed(f"control API {method} {path}: {exc}") from exc
    try:
        data = resp.json()
    except ValueError:
        data = {"detail": resp.text[:200]}
    if resp.status_code >= 400:
        detail = data.get("detail") or data.get("error") or data
        raise ActivityFailed(f"control API {method} {path} → {resp.status_code}: {detail}")
    return data
