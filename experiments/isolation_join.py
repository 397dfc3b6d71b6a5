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
import time
from collections.abc import Callable
from typing import Any

from contracts.deployment import Deployment
from infra.local.client import ControlClient, ControlError

__all__ = ["isolation_configuration", "join_drill_group", "wait_warm_pool"]

WARM_POOL_WAIT_S = 90.0

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


def wait_warm_pool(
    deployment: Deployment, timeout_s: float = WARM_POOL_WAIT_S, say: Say | None = None
) -> float | None:
    """Wait until the environment's warm pool has filled (seconds waited; None where there
    is none to wait for). The pool fills right after ``up``: its members import torch, and
    a capacity search meanwhile measures the machine's start-up, not the deployment."""
    if deployment.platform != "local" or deployment.control is None:
        return None
    started = time.monotonic()
    with ControlClient(deployment.control.url, deployment.control.token, timeout=10) as c:
        while True:
            pool = c.view()["warm_pool"]
            if int(pool.get("ready", 0)) >= int(pool.get("size", 0)):
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                if say is not None:
                    say(f"warning: the warm pool is not full after {timeout_s:g} s: {pool}")
                return time.monotonic() - started
            time.sleep(0.25)
