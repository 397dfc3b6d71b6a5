"""Pulumi entry point (``main: infra/``): read the stack's spec, wire the components,
export the deployment description (DESIGN.md contract 2)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# Pulumi runs this file with infra/ as the program directory; the repo root holds the
# ``infra`` package itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.buckets import ModelBuckets, ModelBucketsArgs
from infra.aws.cluster import SERVICE_CIDR, Cluster, ClusterArgs, GpuPoolArgs
from infra.aws.controllers import ControllerRoles, ControllerRolesArgs
from infra.aws.iam import ReplicaRole, ReplicaRoleArgs, StoreReadGrant
from infra.aws.network import Network, NetworkArgs
from infra.aws.registry import ImageRepository
from infra.config import EnvSpec, spec_from_pulumi
from infra.k8s.manifests import NLB_ANNOTATIONS, NLB_CLASS, PLACEHOLDER_PRIORITY
from infra.k8s.platform import MONITORING_NAMESPACE, ClusterPlatform, PlatformArgs
from infra.k8s.pods import PodSettings, replica_labels, router_labels, selector_string
from infra.k8s.spec import WorkloadSpec
from infra.k8s.workloads import RecommenderWorkloads

DESCRIPTION_KEYS = (
    "environment",
    "platform",
    "endpoint",
    "zones",
    "zone_label",
    "namespace",
    "selectors",
    "replicas_per_zone",
    "standby_replicas",
    "model_store",
    "slo",
)


def deployment_description(spec: EnvSpec, endpoint: pulumi.Input[str]) -> dict[str, Any]:
    """The contract-2 object, one stack output per key (``pulumi stack output --json``)."""
    return {
        "environment": spec.environment,
        "platform": "kubernetes",
        "endpoint": endpoint,
        "zones": list(spec.zones),
        "zone_label": spec.zone_label,
        "namespace": spec.namespace,
        "selectors": {
            "active": selector_string(replica_labels("active")),
            "standby": selector_string(replica_labels("standby")),
            "router": selector_string(router_labels()),
        },
        "replicas_per_zone": spec.replicas_per_zone,
        "standby_replicas": spec.standby_replicas,
        "model_store": {"url": spec.store_url, "dr_url": spec.dr_store_url, "model": spec.model},
        "slo": {
            "availability": spec.slo_availability,
            "p99_ms": spec.slo_p99_ms,
            "max_degraded_ratio": spec.slo_max_degraded_ratio,
            "quality_floor": spec.slo_quality_floor,
            "rto_s": spec.slo_rto_s,
        },
    }


def _workload_spec(
    spec: EnvSpec, image: pulumi.Input[str], role_arn: pulumi.Input[str] | None, on_eks: bool
) -> WorkloadSpec:
    return WorkloadSpec(
        pods=PodSettings(
            namespace=spec.namespace,
            image=image,
            store_url=spec.store_url,
            model=spec.model,
            zone_label=spec.zone_label,
            gpus_per_replica=spec.gpus_per_replica,
            store_endpoint_url=spec.store_endpoint_url,
            aws_region=spec.region if on_eks else None,
        ),
        zones=spec.zones,
        replicas_per_zone=spec.replicas_per_zone,
        standby_replicas=spec.standby_replicas,
        peak_replicas=spec.peak_replicas,
        max_replicas=spec.hpa_max_replicas,
        router_replicas=spec.router_replicas,
        placeholders_per_zone=spec.standby_placeholders_per_zone if on_eks else 0,
        device_plugin=on_eks and spec.gpus_per_replica > 0,
        replica_role_arn=role_arn,
        load_balancer_annotations=NLB_ANNOTATIONS if on_eks else {},
        load_balancer_class=NLB_CLASS if on_eks else None,
        store_egress_port=_store_port(spec.store_endpoint_url),
        cluster_cidrs=(spec.vpc_cidr, SERVICE_CIDR) if on_eks else (),
        replica_rps_target=spec.hpa_rps_per_replica if on_eks else None,
        monitoring_namespace=MONITORING_NAMESPACE if on_eks else None,
    )


def _store_port(endpoint_url: str | None) -> int:
    if not endpoint_url:
        return 443
    parsed = urlparse(endpoint_url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def deploy_eks(spec: EnvSpec) -> pulumi.Output[str]:
    """VPC, EKS, buckets, IRSA, ECR, then the workloads on the new cluster."""
    name = f"recdrill-{spec.environment}"
    tags = {"recdrill:environment": spec.environment, "managed-by": "pulumi"}
    network = Network(
        name,
        NetworkArgs(
            cluster_name=name,
            zones=list(spec.zones),
            region=spec.region or "",
            cidr=spec.vpc_cidr,
            nat_per_zone=spec.nat_per_zone,
            tags=tags,
        ),
    )
    cluster = Cluster(
        name,
        ClusterArgs(
            region=spec.region or "",
            kubernetes_version=spec.kubernetes_version,
            private_subnets={z: s.id for z, s in network.private_subnets.items()},
            public_subnets={z: s.id for z, s in network.public_subnets.items()},
            zone_label=spec.zone_label,
            system_instance_type=spec.system_instance_type,
            system_nodes=spec.system_nodes,
            gpu=GpuPoolArgs(
                spec.gpu_instance_type,
                spec.gpu_nodes_min,
                spec.gpu_nodes_desired,
                spec.gpu_nodes_max,
                spec.gpus_per_node,
            ),
            support_type=spec.eks_support_type,
            api_public_cidrs=spec.api_public_cidrs,
            break_glass_role_arn=spec.break_glass_role_arn,
            tags=tags,
        ),
    )
    controllers = ControllerRoles(
        name,
        ControllerRolesArgs(name, cluster.oidc_provider.arn, cluster.oidc_issuer, tags),
    )
    dr_provider = aws.Provider(f"{name}-dr", region=spec.dr_region) if spec.dr_replication else None
    buckets = ModelBuckets(
        f"{name}-models",
        ModelBucketsArgs(
            bucket_name=spec.model_bucket or "",
            dr_bucket_name=spec.dr_bucket,
            dr_provider=dr_provider,
            tags=tags,
        ),
    )
    grants = [StoreReadGrant(buckets.primary.arn, spec.model_prefix, buckets.primary.key.arn)]
    if buckets.dr is not None:
        grants.append(StoreReadGrant(buckets.dr.arn, spec.model_prefix, buckets.dr.key.arn))
    role = ReplicaRole(
        f"{name}-replica",
        ReplicaRoleArgs(
            oidc_provider_arn=cluster.oidc_provider.arn,
            oidc_issuer=cluster.oidc_issuer,
            namespace=spec.namespace,
            service_account="recdrill-replica",
            grants=grants,
            tags=tags,
        ),
    )
    provider = k8s.Provider(f"{name}-k8s", kubeconfig=cluster.kubeconfig)
    platform = ClusterPlatform(
        name,
        PlatformArgs(
            cluster_name=cluster.cluster.name,
            region=spec.region or "",
            vpc_id=network.vpc.id,
            autoscaler_role_arn=controllers.autoscaler.arn,
            load_balancer_role_arn=controllers.load_balancer.arn,
            placeholder_priority=PLACEHOLDER_PRIORITY,
        ),
        opts=pulumi.ResourceOptions(
            provider=provider,
            depends_on=[cluster.system_nodes, *cluster.addons.values()],
        ),
    )
    repository = ImageRepository(name, tags)
    if not spec.deploy_workloads:
        # Phase one of a first bring-up: infrastructure and the cluster's controllers
        # only, so the image can be pushed and a model published before Pulumi waits on
        # pods that need both.
        return pulumi.Output.from_input("")
    image = spec.image or pulumi.Output.concat(repository.url, ":", spec.image_tag)
    workloads = RecommenderWorkloads(
        name,
        _workload_spec(spec, image, role.role.arn, on_eks=True),
        opts=pulumi.ResourceOptions(
            provider=provider,
            depends_on=[*cluster.gpu_node_groups.values(), *cluster.addons.values(), platform],
        ),
    )
    return workloads.endpoint


def deploy_kube(spec: EnvSpec) -> pulumi.Output[str]:
    """Workloads only, into the current kube context (kind, minikube, an existing cluster)."""
    provider = k8s.Provider(f"recdrill-{spec.environment}-k8s")
    workloads = RecommenderWorkloads(
        f"recdrill-{spec.environment}",
        _workload_spec(spec, spec.image or "", None, on_eks=False),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    return workloads.endpoint


def main() -> None:
    spec = spec_from_pulumi()
    endpoint = deploy_eks(spec) if spec.target == "eks" else deploy_kube(spec)
    for key, value in deployment_description(spec, endpoint).items():
        pulumi.export(key, value)


if __name__ == "__main__":
    main()
