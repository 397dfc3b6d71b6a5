"""The deployment description (``contracts.deployment``) as experiments see it.

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

from contracts.deployment import Deployment, DeploymentError

TOKEN_ENV = "RECDRILL_CONTROL_TOKEN"
SECRET_SCOPE = "recdrill"

__all__ = [
    "SECRET_SCOPE",
    "TOKEN_ENV",
    "DeploymentError",
    "configuration_for",
    "control_token",
    "load_deployment",
    "var_file_for",
]


def load_deployment(path: str | Path) -> dict[str, Any]:
    """Read and check a deployment description file; the checked object, defaults filled."""
    return Deployment.load(path).to_json()


def configuration_for(deployment: Mapping[str, Any], deployment_file: str | Path) -> dict[str, Any]:
    """The experiment ``configuration`` block: every non-secret value activities need."""
    d = Deployment.from_json(deployment)
    config: dict[str, Any] = {
        "platform": d.platform,
        "environment": d.environment,
        "endpoint": d.endpoint.rstrip("/"),
        "zones": list(d.zones),
        "zone_label": d.zone_label,
        "namespace": d.namespace,
        "active_selector": d.selectors.active,
        "standby_selector": d.selectors.standby,
        "router_selector": d.selectors.router,
        "replicas_per_zone": d.replicas_per_zone,
        "standby_replicas": d.standby_replicas,
        "active_replicas": d.active_replicas,
        "model_store_url": d.model_store.url,
        "model_name": d.model_store.model,
        "slo_availability": d.slo.availability,
        "slo_p99_ms": d.slo.p99_ms,
        "slo_max_degraded_ratio": d.slo.max_degraded_ratio,
        "slo_quality_floor": d.slo.quality_floor,
        "slo_rto_s": d.slo.rto_s,
        "deployment_file": str(Path(deployment_file).resolve()),
    }
    if d.control is not None:
        config["control_url"] = d.control.url.rstrip("/")
    if d.fis_templates:
        config["fis_templates"] = dict(d.fis_templates)
    config.update(_region_keys(d))
    return config


def _region_keys(d: Deployment) -> dict[str, Any]:
    """The regions' endpoints, DR controller and store, for the region experiments only.

    Absent for a single-region deployment, which is how the catalog knows not to offer
    region-loss or replication-lag there.
    """
    primary, dr = d.region("primary"), d.region("dr")
    if primary is None or dr is None:
        return {}
    keys: dict[str, Any] = {
        "regions": [r.name for r in d.regions],
        "primary_region": primary.name,
        "primary_endpoint": str(primary.endpoint).rstrip("/"),
        "dr_region": dr.name,
        "dr_endpoint": str(dr.endpoint).rstrip("/"),
        "dr_store_url": dr.store_url,
        "replication_window_s": dr.replication_window_s,
    }
    if dr.control_url:
        keys["dr_control_url"] = dr.control_url.rstrip("/")
    for extra in ("replicator", "front_door"):
        if d.extras.get(extra):
            keys[f"{extra}_url"] = str(d.extras[extra]).rstrip("/")
    return keys


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
