"""Workload invariants: security context everywhere; PDB and probes on serving pods."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.policy.view import Resources, display_name, k8s_objects, pod_labels, pod_spec, role_of

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def workloads_hardened(resources: Resources) -> list[str]:
    """Every workload: a security context; serving Deployments also a PDB and probes.

    Headroom placeholders (role ``placeholder``) are exempt from PDB and probes: they run
    ``pause`` and exist to be preempted.
    """
    pdbs = k8s_objects(resources, "PodDisruptionBudget")
    problems = []
    for kind in sorted(WORKLOAD_KINDS):
        for workload in k8s_objects(resources, kind):
            name = display_name(workload)
            pod = pod_spec(workload)
            pod_security = pod.get("securityContext") or {}
            if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
            if kind != "DaemonSet" and pod_security.get("runAsNonRoot") is not True:
                problems.append(f"{name}: pod does not set runAsNonRoot: true")
            for container in pod.get("containers") or []:
                sc = container.get("securityContext") or {}
                where = f"{name} container {container.get('name')}"
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{where}: allowPrivilegeEscalation is not false")
                if sc.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{where}: root filesystem is not read-only")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    problems.append(f"{where}: capabilities are not dropped (drop: [ALL])")
                if kind != "DaemonSet" and role_of(workload) != "placeholder":
                    for probe in ("readinessProbe", "livenessProbe"):
                        if not container.get(probe):
                            problems.append(f"{where}: no {probe}")
            if kind == "DaemonSet" or role_of(workload) == "placeholder":
                continue
            labels = pod_labels(workload)
            if not any(_selects(p["spec"].get("selector") or {}, labels) for p in pdbs):
                problems.append(f"{name}: no PodDisruptionBudget selects its pods")
    return problems
