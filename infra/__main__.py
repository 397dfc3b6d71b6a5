"""Pulumi entry point (``main: infra/``): read the stack's spec, wire the components,
export the deployment description (DESIGN.md contract 2)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

# Pulumi runs this file with infra/ as the program directory; the repo root holds the
# ``infra`` package itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contracts.deployment import Deployment, ModelStoreRef, Selectors, Slo
from infra.aws.buckets import ModelBuckets, ModelBucketsArgs
from infra.aws.canary import CanaryArgs, RouterCanaries
from infra.aws.cluster import SERVICE_CIDR, Cluster, ClusterArgs, GpuPoolArgs
from infra.aws.controllers import ControllerRoles, ControllerRolesArgs
from infra.aws.fis import ZoneLossArgs, ZoneLossTemplates, ZoneTargets
from infra.aws.iam import ReplicaRole, ReplicaRoleArgs, StoreReadGrant
from infra.aws.network import Network, NetworkArgs
from infra.aws.region_pair import (
    deploy_steering,
    dr_grants,
    is_region_pair,
    own_readiness_alarm,
    primary_extras,
    regions_output,
)
from infra.aws.registry import ImageRepository
from infra.config import EnvSpec, spec_from_pulumi
from infra.k8s.manifests import NLB_ANNOTATIONS, NLB_CLASS, PLACEHOLDER_PRIORITY
from infra.k8s.monitoring import MonitoringArgs, RecommenderMonitoring
from infra.k8s.platform import ClusterPlatform, PlatformArgs
from infra.k8s.pods import PodSettings, replica_labels, router_labels, selector_string
from infra.k8s.spec import WorkloadSpec
from infra.k8s.workloads import RecommenderWorkloads
from monitoring.settings import RuleSettings


def deployment_description(
    spec: EnvSpec,
    endpoint: pulumi.Input[str],
    fis_templates: Mapping[str, pulumi.Input[str]] | None = None,
) -> dict[str, Any]:
    """The contract-2 object, one stack output per key (``pulumi stack output --json``),
    with the stack's drill windows, kind and traffic ceiling; EKS adds its FIS zone-loss
    template per zone."""
    return Deployment(
        environment=spec.environment,
        platform="kubernetes",
        endpoint=endpoint,
        zones=tuple(spec.zones),
        zone_label=spec.zone_label,
        namespace=spec.namespace,
        selectors=Selectors(
            active=selector_string(replica_labels("active")),
            standby=selector_string(replica_labels("standby")),
            router=selector_string(router_labels()),
        ),
        replicas_per_zone=spec.replicas_per_zone,
        standby_replicas=spec.standby_replicas,
        model_store=ModelStoreRef(url=spec.store_url, model=spec.model, dr_url=spec.dr_store_url),
        slo=stack_slo(spec),
        fis_templates=fis_templates,
        environment_kind=spec.environment_kind,
        drill_windows=spec.windows,
        traffic_ceiling_rps=spec.traffic_ceiling_rps,
    ).to_json()


def stack_slo(spec: EnvSpec) -> Slo:
    """The SLO the drill checks, and the one the alert rules are built from."""
    return Slo(
        availability=spec.slo_availability,
        p99_ms=spec.slo_p99_ms,
        max_degraded_ratio=spec.slo_max_degraded_ratio,
        quality_floor=spec.slo_quality_floor,
        rto_s=spec.slo_rto_s,
    )


def deploy_monitoring(
    spec: EnvSpec, name: str, provider: k8s.Provider, workloads: RecommenderWorkloads
) -> RecommenderMonitoring | None:
    """The alert rules, PodMonitors and dashboard for the stack's kube-prometheus-stack."""
    if not spec.monitoring:
        return None
    return RecommenderMonitoring(
        f"{name}-monitoring",
        MonitoringArgs(
            spec.namespace,
            RuleSettings.from_slo(stack_slo(spec).to_json(), zones=tuple(spec.zones)),
            stack_namespace=spec.monitoring_namespace,
            stack_release=spec.monitoring_release,
            region=spec.region if is_region_pair(spec) else None,
            region_role=spec.region_role if is_region_pair(spec) else None,
        ),
        opts=pulumi.ResourceOptions(provider=provider, depends_on=[workloads]),
    )


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
    )


def _store_port(endpoint_url: str | None) -> int:
    if not endpoint_url:
        return 443
    parsed = urlparse(endpoint_url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def deploy_zone_loss_drills(
    spec: EnvSpec, name: str, network: Network, cluster: Cluster, endpoint: pulumi.Output[str]
) -> ZoneLossTemplates:
    """FIS zone-loss templates, each stopping on its zone's router-SLO canary alarm."""
    tags = {"recdrill:environment": spec.environment, "managed-by": "pulumi"}
    canaries = RouterCanaries(
        f"{name}-canary",
        CanaryArgs(
            environment=spec.environment,
            artifact_bucket_name=f"{spec.model_bucket}-canary",
            vpc_id=network.vpc.id,
            vpc_cidr=spec.vpc_cidr,
            private_subnets={z: s.id for z, s in network.private_subnets.items()},
            router_url=endpoint,
            availability=spec.slo_availability,
            p99_ms=spec.slo_p99_ms,
            tags=tags,
            readiness_alarm_name=own_readiness_alarm(spec),
            max_degraded_ratio=spec.slo_max_degraded_ratio,
        ),
    )
    return ZoneLossTemplates(
        f"{name}-zone-loss",
        ZoneLossArgs(
            region=spec.region or "",
            cluster_name=cluster.cluster.name,
            vpc_arn=network.vpc.arn,
            zones={
                zone: ZoneTargets(
                    node_group_name=cluster.gpu_node_groups[zone].node_group_name,
                    asg_name=cluster.gpu_asg_names[zone],
                    subnet_arns=[
                        network.private_subnets[zone].arn,
                        network.public_subnets[zone].arn,
                    ],
                    stop_alarm_arn=canaries.alarms[zone].arn,
                )
                for zone in spec.zones
            },
            tags=tags,
        ),
    )


def deploy_eks(
    spec: EnvSpec,
) -> tuple[pulumi.Output[str], dict[str, pulumi.Output[str]], dict[str, Any]]:
    """VPC, EKS, buckets, IRSA, ECR, then the workloads on the new cluster and the FIS
    zone-loss templates against them; returns the endpoint, the template per zone and the
    region pair's extra outputs (docs/dr.md)."""
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
    # A DR region stack reads the primary's replication target (created and replicated
    # by the primary stack, infra/aws/region_pair.py); a primary owns its buckets.
    primary = pulumi.StackReference(spec.primary_stack) if spec.region_role == "dr" else None
    extras: dict[str, Any] = {}
    if primary is not None:
        grants = dr_grants(spec, primary)
    else:
        grants, extras = _primary_buckets(spec, name, tags)
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
        # pods that need both. Nothing to drill yet, so no FIS templates either.
        return pulumi.Output.from_input(""), {}, extras
    image = spec.image or pulumi.Output.concat(repository.url, ":", spec.image_tag)
    workloads = RecommenderWorkloads(
        name,
        _workload_spec(spec, image, role.role.arn, on_eks=True),
        opts=pulumi.ResourceOptions(
            provider=provider,
            depends_on=[*cluster.gpu_node_groups.values(), *cluster.addons.values(), platform],
        ),
    )
    # After the workloads, whose dependency on the platform brings the operator's CRDs.
    deploy_monitoring(spec, name, provider, workloads)
    drills = deploy_zone_loss_drills(spec, name, network, cluster, workloads.endpoint)
    templates = {zone: t.id for zone, t in drills.templates.items()}
    if primary is None:
        return workloads.endpoint, templates, extras
    # The DR stack owns the global steering: it survives the primary's loss. Its
    # description's endpoint is the steered name, with both regions listed.
    steering = deploy_steering(spec, name, primary, workloads.endpoint)
    extras["regions"] = regions_output(spec, primary, workloads.endpoint)
    return pulumi.Output.from_input(steering.endpoint), templates, extras


def _primary_buckets(
    spec: EnvSpec, name: str, tags: dict[str, str]
) -> tuple[list[StoreReadGrant], dict[str, Any]]:
    """The model bucket, its DR replica (RTC) with RPO alarms, and the replicas' grants."""
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
    return grants, primary_extras(spec, name, buckets, tags)


def deploy_kube(spec: EnvSpec) -> pulumi.Output[str]:
    """Workloads only, into the current kube context (kind, minikube, an existing cluster)."""
    name = f"recdrill-{spec.environment}"
    provider = k8s.Provider(f"{name}-k8s")
    workloads = RecommenderWorkloads(
        name,
        _workload_spec(spec, spec.image or "", None, on_eks=False),
        opts=pulumi.ResourceOptions(provider=provider),
    )
    # Into the cluster's existing kube-prometheus-stack (monitoring_namespace/_release).
    deploy_monitoring(spec, name, provider, workloads)
    return workloads.endpoint


def main() -> None:
    spec = spec_from_pulumi()
    if spec.target == "eks":
        endpoint, fis_templates, extras = deploy_eks(spec)
        description = deployment_description(spec, endpoint, fis_templates or None)
        description.update(extras)
    else:
        description = deployment_description(spec, deploy_kube(spec))
    for key, value in description.items():
        pulumi.export(key, value)


if __name__ == "__main__":
    main()
