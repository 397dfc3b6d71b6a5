"""Every version the EKS stacks install, pinned in one place so upgrades are reviewed diffs.

Add-on versions are per Kubernetes minor (``aws eks describe-addon-versions
--kubernetes-version 1.35 --addon-name <name>`` lists what EKS offers); Helm chart
versions are pinned too, because an unpinned chart upgrades itself on the next
``pulumi up``. Bumping ``kubernetes_version`` means adding its row here first: the config
refuses a version without one (infra/config.py SUPPORTED_KUBERNETES).
"""

from __future__ import annotations

from dataclasses import dataclass

# EKS managed add-ons per Kubernetes minor.
ADDON_VERSIONS: dict[str, dict[str, str]] = {
    "1.35": {
        "vpc-cni": "v1.21.1-eksbuild.3",
        "kube-proxy": "v1.35.0-eksbuild.2",
        "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
        "coredns": "v1.13.2-eksbuild.1",
        "metrics-server": "v0.8.0-eksbuild.6",
    },
}


@dataclass(frozen=True)
class Chart:
    """A Helm chart at a fixed version from its upstream repository."""

    name: str
    version: str
    repository: str
    # The image tag where the chart's default would drift from the cluster (CA must
    # match the Kubernetes minor exactly).
    image_tag: str | None = None


CLUSTER_AUTOSCALER = Chart(
    "cluster-autoscaler", "9.52.1", "https://kubernetes.github.io/autoscaler", "v1.35.0"
)
LOAD_BALANCER_CONTROLLER = Chart(
    "aws-load-balancer-controller", "1.14.0", "https://aws.github.io/eks-charts"
)
# The Prometheus Operator with its CRDs, Prometheus, Alertmanager and Grafana: what
# infra/k8s/monitoring.py's PrometheusRule, PodMonitors and dashboard ConfigMap need.
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "80.4.1", "https://prometheus-community.github.io/helm-charts"
)
PROMETHEUS_ADAPTER = Chart(
    "prometheus-adapter", "5.1.0", "https://prometheus-community.github.io/helm-charts"
)

# CloudWatch Synthetics runtime of the router canary (infra/aws/router_canary.py: plain
# Python, no browser); AWS retires old runtimes, so this is bumped like the charts.
CANARY_RUNTIME = "syn-python-selenium-14.0"
