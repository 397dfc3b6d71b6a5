"""The deployment description (DESIGN.md contract 2) as experiments see it.

``render`` flattens the description into the experiment's ``configuration`` (plain,
non-secret keys that activities reference as ``${endpoint}``, ``${slo_p99_ms}``…) and
keeps the control token out of the rendered file: activities that need it look in
their ``secrets`` first (a chaoslib var file's ``secrets.recdrill.control_token``), then
the ``RECDRILL_CONTROL_TOKEN`` environment variable, then the 0600 deployment file
whose path is the ``deployment_file`` configuration key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed

TOKEN_ENV = "RECDRILL_CONTROL_TOKEN"
SECRET_SCOPE = "recdrill"
PLATFORMS = ("local", "kubernetes")
_REQUIRED = ("platform", "endpoint", "zones", "selectors", "model_store", "slo")
_SLO_DEFAULTS = {
    "availability": 0.999,
    "p99_ms": 250.0,
    "max_degraded_ratio": 0.05,
    "quality_floor": 0.8,
    "rto_s": 30.0,
}


class DeploymentError(ValueError):
    """The deployment description is missing or malformed (named in the message)."""


def load_deployment(path: str | Path) -> dict[str, Any]:
    """Read and check a deployment description file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DeploymentError(f"deployment description {path} does not exist") from exc
    except (OSError, ValueError) as exc:
        raise DeploymentError(f"deployment description {path}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DeploymentError(f"deployment description {path}: expected a JSON object")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise DeploymentError(f"deployment description {path}: missing keys {', '.join(missing)}")
    if data["platform"] not in PLATFORMS:
        raise DeploymentError(
            f"deployment description {path}: platform {data['platform']!r} is not one of "
            f"{', '.join(PLATFORMS)}"
        )
    if not isinstance(data["zones"], list) or not data["zones"]:
        raise DeploymentError(f"deployment description {path}: 'zones' must be a non-empty list")
    if data["platform"] == "local" and not isinstance(data.get("control"), dict):
        raise DeploymentError(
            f"deployment description {path}: a local deployment needs a 'control' object"
        )
    return data


def configuration_for(deployment: Mapping[str, Any], deployment_file: str | Path) -> dict[str, Any]:
    """The experiment ``configuration`` block: every non-secret value activities need."""
    slo = {**_SLO_DEFAULTS, **deployment.get("slo", {})}
    store = deployment["model_store"]
    selectors = deployment["selectors"]
    config: dict[str, Any] = {
        "platform": deployment["platform"],
        "environment": deployment.get("environment", deployment["platform"]),
        "endpoint": deployment["endpoint"].rstrip("/"),
        "zones": list(deployment["zones"]),
        "zone_label": deployment.get("zone_label", "topology.kubernetes.io/zone"),
        "namespace": deployment.get("namespace", "recdrill"),
        "active_selector": selectors["active"],
        "standby_selector": selectors.get("standby", ""),
        "router_selector": selectors.get("router", ""),
        "replicas_per_zone": int(deployment.get("replicas_per_zone", 1)),
        "standby_replicas": int(deployment.get("standby_replicas", 0)),
        "active_replicas": len(deployment["zones"]) * int(deployment.get("replicas_per_zone", 1)),
        "model_store_url": store["url"],
        "model_name": store.get("model", "recommender"),
        "slo_availability": float(slo["availability"]),
        "slo_p99_ms": float(slo["p99_ms"]),
        "slo_max_degraded_ratio": float(slo["max_degraded_ratio"]),
        "slo_quality_floor": float(slo["quality_floor"]),
        "slo_rto_s": float(slo["rto_s"]),
        "deployment_file": str(Path(deployment_file).resolve()),
    }
    if deployment["platform"] == "local":
        config["control_url"] = deployment["control"]["url"].rstrip("/")
    return config


def var_file_for(deployment: Mapping[str, Any], deployment_file: str | Path) -> dict[str, Any]:
    """A chaoslib var file: chaoslib reads only its ``configuration`` and ``secrets`` keys."""
    body: dict[str, Any] = {"configuration": configuration_for(deployment, deployment_file)}
    token = (deployment.get("control") or {}).get("token")
    if token:
        body["secrets"] = {SECRET_SCOPE: {"control_token": token}}
    return body


def control_token(
    configuration: Mapping[str, Any] | None, secrets: Mapping[str, Any] | None
) -> str:
    """The control API token: secrets, then the environment, then the deployment file."""
    if secrets and secrets.get("control_token"):
        return str(secrets["control_token"])
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    path = (configuration or {}).get("deployment_file")
    if path:
        try:
            token = json.loads(Path(path).read_text()).get("control", {}).get("token")
        except (OSError, ValueError) as exc:
            raise ActivityFailed(f"cannot read the control token from {path}: {exc}") from exc
        if token:
            return str(token)
    raise ActivityFailed(
        "no control API token: give secrets.recdrill.control_token in a var file, "
        f"set {TOKEN_ENV}, or point configuration 'deployment_file' at the deployment"
    )
