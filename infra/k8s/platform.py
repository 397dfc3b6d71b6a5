"""What the cluster itself needs before the recommender can run well: the Cluster
Autoscaler, the AWS Load Balancer Controller, kube-prometheus-stack (the Prometheus
Operator, Prometheus, Alertmanager, Grafana) and prometheus-adapter, which turns the
replicas' request counters into the HPA's load signal. Helm releases, each at a pinned
chart version (infra/aws/versions.py).

Why kube-prometheus-stack and not the plain ``prometheus`` chart: the recommender's
alert rules, scrape targets and dashboard are operator objects (PrometheusRule,
PodMonitor, a Grafana dashboard ConfigMap; infra/k8s/monitoring.py), the same on EKS and
on a kube cluster that already runs the stack. One Prometheus then serves both the
alerts and the autoscaling signal.

Why the Cluster Autoscaler and not Karpenter: the design is one managed node group per
AZ with priority -10 headroom placeholders. The Cluster Autoscaler scales exactly those
per-zone groups and counts pending pods at or above its expendable cutoff (-10), so the
placeholders really hold warm GPU capacity; Karpenter replaces node groups with its own
NodePools and has no built-in headroom, so the standby capacity would need a second
mechanism. See docs/infra.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.aws.controllers import (
    AUTOSCALER_SERVICE_ACCOUNT,
    CONTROLLER_NAMESPACE,
    LOAD_BALANCER_SERVICE_ACCOUNT,
)
from infra.aws.versions import (
    CLUSTER_AUTOSCALER,
    KUBE_PROMETHEUS_STACK,
    LOAD_BALANCER_CONTROLLER,
    PROMETHEUS_ADAPTER,
    Chart,
)
from infra.k8s.spec import RPS_METRIC

MONITORING_NAMESPACE = "monitoring"
# The Helm release name: kube-prometheus-stack's Prometheus selects rules and monitors
# labelled ``release: <this>`` (MonitoringArgs.stack_release), and names its objects after
# it (fullnameOverride below), which fixes the Prometheus Service's name.
MONITORING_RELEASE = "kube-prometheus-stack"
PROMETHEUS_URL = f"http://{MONITORING_RELEASE}-prometheus.{MONITORING_NAMESPACE}.svc"
PROMETHEUS_PORT = 9090
# The replica's own request counter (serving/replica/metrics.py).
REQUESTS_SERIES = "recdrill_replica_requests_total"
SYSTEM_NODES = {"recdrill.io/pool": "system"}


@dataclass(frozen=True)
class PlatformArgs:
    cluster_name: pulumi.Input[str]
    region: str
    vpc_id: pulumi.Input[str]
    autoscaler_role_arn: pulumi.Input[str]
    load_balancer_role_arn: pulumi.Input[str]
    placeholder_priority: int


def autoscaler_values(args: PlatformArgs) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": args.region,
        "autoDiscovery": {"clusterName": args.cluster_name},
        # The autoscaler's minor must match the cluster's.
        "image": {"tag": CLUSTER_AUTOSCALER.image_tag},
        "rbac": {
            "serviceAccount": {
                "name": AUTOSCALER_SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": args.autoscaler_role_arn},
            }
        },
        "extraArgs": {
            # Pending pods below this priority never cause a scale-up; the placeholders
            # sit exactly at it so they do (DESIGN.md "Standby GPU placeholders").
            "expendable-pods-priority-cutoff": args.placeholder_priority,
            # Per-zone groups must stay per-zone: refill the zone that lost capacity.
            "balance-similar-node-groups": False,
            "skip-nodes-with-local-storage": False,
        },
        "nodeSelector": SYSTEM_NODES,
    }


def load_balancer_values(args: PlatformArgs) -> dict[str, Any]:
    return {
        "clusterName": args.cluster_name,
        # IMDS is closed to pods (hop limit 1): region and VPC must be given.
        "region": args.region,
        "vpcId": args.vpc_id,
        "replicaCount": 2,
        "serviceAccount": {
            "name": LOAD_BALANCER_SERVICE_ACCOUNT,
            "annotations": {"eks.amazonaws.com/role-arn": args.load_balancer_role_arn},
        },
        "nodeSelector": SYSTEM_NODES,
    }


def monitoring_stack_values() -> dict[str, Any]:
    """kube-prometheus-stack on the system nodes, trimmed to what EKS lets it see.

    EKS runs the control plane itself: its scheduler, controller manager and etcd cannot
    be scraped, and kube-proxy's metrics listen on localhost only, so those jobs (and
    their alerts, which would fire forever as TargetDown) are off. Two days of data on
    an emptyDir: alerts and the HPA signal need minutes, not history.
    """
    on_system = {"nodeSelector": SYSTEM_NODES}
    return {
        "fullnameOverride": MONITORING_RELEASE,
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": on_system,
        "kube-state-metrics": on_system,
        "alertmanager": {"alertmanagerSpec": on_system},
        # The dashboard sidecar loads ConfigMaps labelled grafana_dashboard=1 from the
        # monitoring namespace, where RecommenderMonitoring puts the recommender's.
        "grafana": {**on_system, "sidecar": {"dashboards": {"enabled": True}}},
        "prometheus": {
            "prometheusSpec": {
                **on_system,
                "retention": "2d",
                "scrapeInterval": "15s",
                "evaluationInterval": "15s",
            }
        },
    }


def adapter_values() -> dict[str, Any]:
    """prometheus-adapter rule: the replicas' request counter as a per-pod rate."""
    return {
        "prometheus": {"url": PROMETHEUS_URL, "port": PROMETHEUS_PORT},
        "nodeSelector": SYSTEM_NODES,
        "rules": {
            "default": False,
            "custom": [
                {
                    "seriesQuery": f'{REQUESTS_SERIES}{{namespace!="",pod!=""}}',
                    "resources": {
                        "overrides": {
                            "namespace": {"resource": "namespace"},
                            "pod": {"resource": "pod"},
                        }
                    },
                    "name": {"matches": f"^{REQUESTS_SERIES}$", "as": RPS_METRIC},
                    "metricsQuery": (
                        'sum(rate(<<.Series>>{<<.LabelMatchers>>,route="/v1/recommend"}[1m])) '
                        "by (<<.GroupBy>>)"
                    ),
                }
            ],
        },
    }


class ClusterPlatform(pulumi.ComponentResource):
    """The controllers the workloads rely on; the workloads depend on this component."""

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("recdrill:k8s:ClusterPlatform", name, None, opts)
        self.releases = {
            "cluster-autoscaler": self._release(
                name, CLUSTER_AUTOSCALER, CONTROLLER_NAMESPACE, autoscaler_values(args)
            ),
            "aws-load-balancer-controller": self._release(
                name, LOAD_BALANCER_CONTROLLER, CONTROLLER_NAMESPACE, load_balancer_values(args)
            ),
            "kube-prometheus-stack": self._release(
                name, KUBE_PROMETHEUS_STACK, MONITORING_NAMESPACE, monitoring_stack_values()
            ),
            "prometheus-adapter": self._release(
                name, PROMETHEUS_ADAPTER, MONITORING_NAMESPACE, adapter_values()
            ),
        }
        self.register_outputs({})

    def _release(
        self, name: str, chart: Chart, namespace: str, values: dict[str, Any]
    ) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            f"{name}-{chart.name}",
            name=chart.name,
            chart=chart.name,
            version=chart.version,
            repository_opts={"repo": chart.repository},
            namespace=namespace,
            create_namespace=namespace != CONTROLLER_NAMESPACE,
            values=values,
            # Fail the update, and roll it back, rather than leave a half-installed chart.
            atomic=True,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self),
        )
