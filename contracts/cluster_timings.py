"""How long a cluster takes to replace a replica, and the local environment's scaled copy.

The local environment's RTO stands for the cluster's (30 s for 300 s, ``RTO_S``), so every
delay that stands for a cluster event is scaled by the same factor. The cluster figures
are the platform's own, with their sources (``docs/local.md`` has the table):

- **Node lost, pods evicted**: the node controller marks an unresponsive node NotReady
  after ``--node-monitor-grace-period`` (40 s) and the pods' default
  ``node.kubernetes.io/unreachable`` toleration is 300 s (kube-apiserver
  ``--default-unreachable-toleration-seconds``), so pods on a node that stops answering are
  deleted about 340 s after it stopped (Kubernetes docs, "Taints and Tolerations",
  taint-based evictions).
- **Scheduling onto held headroom**: the staging and prod stacks keep priority −10
  placeholder pods on warm GPU nodes; a replacement preempts one (the placeholder's grace
  is 0) and is bound in about 5 s. Without headroom the Cluster Autoscaler must add a node
  (its happy-path scale-up decision is p99 ≈ 22 s, kubernetes/autoscaler#5769, before the
  EC2 instance boots and joins): that is the standby's job to cover, not the RTO's.
- **Image pull**: the serving image carries torch with CUDA (about 6 GB). AWS measures
  4-6 minutes for 15-20 GB deep-learning images pulled without lazy loading (AWS Machine
  Learning Blog, "Reducing container cold start times using SOCI index on DLAMI and DLC"),
  about 17 s per GB, so about 100 s on a node that has not pulled it yet.
- **Model fetch**: a few hundred MB from S3 in the same region, about 10 s.
- **Pod restart on the same node** (a deleted or killed pod; image cached there): the
  container starts and fetches the model, about 12 s.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.deployment import RTO_S

__all__ = ["CLUSTER", "LOCAL", "SCALE", "ReplacementTimings"]

SCALE = RTO_S["local"] / RTO_S["kubernetes"]


@dataclass(frozen=True)
class ReplacementTimings:
    """Seconds from a loss to the replacement process starting (its model load is real)."""

    restart_same_node_s: float
    reschedule_other_node_s: float
    node_lost_eviction_s: float

    def scaled(self, factor: float) -> ReplacementTimings:
        return ReplacementTimings(
            round(self.restart_same_node_s * factor, 2),
            round(self.reschedule_other_node_s * factor, 2),
            round(self.node_lost_eviction_s * factor, 2),
        )


SCHEDULE_ON_HEADROOM_S = 5.0
IMAGE_PULL_S = 100.0
MODEL_FETCH_S = 10.0
CONTAINER_START_S = 2.0
NODE_MONITOR_GRACE_S = 40.0
UNREACHABLE_TOLERATION_S = 300.0

CLUSTER = ReplacementTimings(
    restart_same_node_s=CONTAINER_START_S + MODEL_FETCH_S,
    reschedule_other_node_s=SCHEDULE_ON_HEADROOM_S + IMAGE_PULL_S + MODEL_FETCH_S,
    node_lost_eviction_s=NODE_MONITOR_GRACE_S + UNREACHABLE_TOLERATION_S,
)
LOCAL = CLUSTER.scaled(SCALE)
