"""The drill's own processes in the local environment's ``drill`` CPU group.

The load generator, the recorder, the probes and Prometheus are the drill's; on a cluster
they run on the CI runner, apart from the replicas. Locally the drill's process (and what
it starts afterwards: the chaos process, Prometheus) joins the environment's reserved
``drill`` group, so their CPU neither takes from the replicas nor depends on who else
runs on the machine. Where the environment is not isolated, one line says so, and the
journals carry it (``isolation`` and ``isolation_note`` in every configuration).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from contracts.deployment import Deployment
from infra.local.client import ControlClient, ControlError

__all__ = ["isolation_configuration", "join_drill_group"]

Say = Callable[[str], None]


def isolation_configuration(described: dict[str, Any]) -> dict[str, str]:
    """The journal's record of the environment's isolation, from ``GET /v1/isolation``."""
    if not described.get("isolated"):
        reason = str(described.get("reason") or "not isolated")
        return {"isolation": "none", "isolation_note": reason}
    mechanism = str(described.get("mechanism"))
    cpu = float(described.get("replica_cpu") or 0)
    host = described.get("host_cpus")
    reserved = ", ".join(f"{g} {c:g}" for g, c in (described.get("reserved_cpu") or {}).items())
    note = (
        f"{mechanism}: each replica a node of {cpu * 1000:.0f}m CPU (CFS quota), "
        f"reserved CPU {reserved} of {host} CPUs"
    )
    return {"isolation": mechanism, "isolation_note": note}


def join_drill_group(deployment: Deployment, say: Say | None = None) -> dict[str, str]:
    """Move this process into the local environment's ``drill`` group (children follow);
    returns the isolation record. Other platforms: nothing to join, an empty record."""
    if deployment.platform != "local" or deployment.control is None:
        return {}
    try:
        with ControlClient(deployment.control.url, deployment.control.token, timeout=10) as c:
            described = c.isolation()
            if described.get("isolated"):
                c.join("drill", os.getpid())
    except ControlError as exc:
        why = f"not isolated: cannot join the drill group: {exc}"
        described = {"isolated": False, "reason": why}
    record = isolation_configuration(described)
    if say is not None and record["isolation"] == "none":
        say(f"warning: {record['isolation_note']}; the drill's figures depend on the machine")
    return record
