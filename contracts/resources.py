"""What a replica may use, and what the local environment reserves for everything else.

One contract for both platforms: the pod spec's ``resources`` (``infra/k8s/pods.py``) and
the local environment's cgroups (``infra/local/isolation.py``) are both built from here,
so "a replica" means the same budget wherever it runs.

- **Kubernetes.** A GPU replica requests 2 CPUs and 8 GiB with its GPUs; its memory is
  limited and its CPU is not (a CPU limit on a GPU pod only adds CFS throttling to the
  request path). A CPU-only replica (``gpus_per_replica: 0``) requests 250m and 1 GiB.
- **Local.** A replica is a node: its own fixed CPU budget, enforced as kubelet enforces
  ``resources.limits.cpu`` (a CFS quota in the replica's cgroup). The router, the drill
  (load generator, recorder, probes, Prometheus) and the control plane (the controller,
  the warm pool, training and the promotion gate's evaluation) each get CPU reserved apart,
  so losing a replica loses its capacity, and work elsewhere does not slow the others.

The local budgets are sized so that the replicas, not the router, bound capacity: with
batching a replica at 120m answered 436 rps alone, so seven of them out-ran the router
(0.37 ms of CPU a request) and capacity stopped following the replica count. At 40m one
replica holds 42 rps and seven 283 rps (0.96× seven times one; ``bench.capacity_scaling``),
the router and the drill keep room for the capacity search past the replicas' knee, the
control plane runs the gate's evaluation (about 4 s of CPU) in about 13 s: in all 1.63 of
2 CPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CFS_PERIOD_US",
    "LOCAL_REPLICA",
    "LOCAL_RESERVED",
    "LOCAL_STARTUP_CPU",
    "CpuMemory",
    "kubernetes_replica_resources",
    "local_budget_cpus",
]

# CFS period of the local cgroups. kubelet's default is 100 ms; a replica here stands for a
# whole node, which is never throttled, so a short period keeps a throttled replica's wait
# (period − quota) at 24 ms instead of 96 ms while enforcing the same average budget.
# 25 ms is the shortest period at which a replica's 40m is the kernel's smallest quota
# (1 ms).
CFS_PERIOD_US = 25_000


@dataclass(frozen=True)
class CpuMemory:
    """A CPU amount (cores; 0.08 is Kubernetes' ``80m``) and memory (MiB)."""

    cpu: float
    memory_mib: int

    def __post_init__(self) -> None:
        if not self.cpu > 0:
            raise ValueError(f"cpu must be positive, got {self.cpu}")
        if self.memory_mib <= 0:
            raise ValueError(f"memory_mib must be positive, got {self.memory_mib}")

    @property
    def millicores(self) -> str:
        """Kubernetes' quantity form: ``80m``, ``2``."""
        milli = round(self.cpu * 1000)
        return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"

    @property
    def memory(self) -> str:
        mib = self.memory_mib
        return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"

    def quota_us(self, period_us: int = CFS_PERIOD_US) -> int:
        """The CFS quota per ``period_us`` that enforces ``cpu`` (at least the kernel's 1 ms)."""
        return max(1000, round(self.cpu * period_us))


GPU_REPLICA = CpuMemory(cpu=2.0, memory_mib=8192)
CPU_REPLICA = CpuMemory(cpu=0.25, memory_mib=1024)
# A local replica: one "node" (memory is not limited locally: an OOM kill of a replica
# that loads torch would be a fault the drill did not inject).
LOCAL_REPLICA = CpuMemory(cpu=0.04, memory_mib=1024)
# A starting replica's CPU limit until it first turns ready, its weight staying a replica's
# (a start-up CPU boost, as google/kube-startup-cpu-boost gives pods): on a cluster a
# replacement starts on a node of its own, so its imports and model load must not take
# 25 s of a serving replica's budget here; with the weight of a replica it takes only CPU
# the others leave idle.
LOCAL_STARTUP_CPU = 0.3
# What the local environment reserves apart from the replicas, by group.
LOCAL_RESERVED: dict[str, float] = {
    "router": 0.6,
    "drill": 0.45,
    "control": 0.3,
}


def kubernetes_replica_resources(gpus: int, gpu_resource: str) -> dict[str, Any]:
    """A replica container's ``resources``: requests, and a memory limit (no CPU limit)."""
    size = GPU_REPLICA if gpus else CPU_REPLICA
    requests: dict[str, str] = {"cpu": size.millicores, "memory": size.memory}
    limits: dict[str, str] = {"memory": size.memory}
    if gpus:
        requests[gpu_resource] = limits[gpu_resource] = str(gpus)
    return {"requests": requests, "limits": limits}


def local_budget_cpus(replicas: int) -> float:
    """The CPUs a local environment of ``replicas`` replica processes reserves in all."""
    return replicas * LOCAL_REPLICA.cpu + sum(LOCAL_RESERVED.values())
