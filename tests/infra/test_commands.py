"""The container commands the manifests declare parse with the real serving CLIs."""

from __future__ import annotations

import re

from infra.k8s.manifests import ACTIVE_SERVICE, STANDBY_SERVICE
from infra.k8s.pods import CACHE_DIR, PodSettings, replica_command, router_command
from serving.replica.settings import build_parser
from serving.router.cli import parser as router_parser

SETTINGS = PodSettings(
    namespace="recdrill",
    image="recdrill:dev",
    store_url="s3://bucket/models",
    model="recommender",
    zone_label="topology.kubernetes.io/zone",
    gpus_per_replica=1,
)


def _expand(argv: list[str], env: dict[str, str]) -> list[str]:
    """What the kubelet does with $(VAR) in command/args."""
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in argv]


def test_replica_command_parses() -> None:
    argv = _expand(replica_command(SETTINGS), {"RECDRILL_ZONE": "eu-west-1a", "POD_NAME": "r-1"})
    assert argv[:3] == ["python", "-m", "serving.replica"]
    args = build_parser().parse_args(argv[3:])
    assert (args.store, args.model, args.alias) == ("s3://bucket/models", "recommender", "stable")
    assert (args.host, args.port, str(args.cache_dir)) == ("0.0.0.0", 8080, CACHE_DIR)
    assert (args.zone, args.replica_id) == ("eu-west-1a", "r-1")
    assert args.drain_grace < 30 - 5  # fits terminationGracePeriodSeconds after preStop


def test_router_command_parses_with_kubernetes_discovery() -> None:
    services = {"active": ACTIVE_SERVICE, "standby": STANDBY_SERVICE}
    argv = router_command(SETTINGS, services, expected_active=6)
    assert argv[:3] == ["python", "-m", "serving.router"]
    args = router_parser().parse_args(argv[3:])
    assert args.expected_active == 6, "the standby threshold is a share of the Deployments'"
    assert args.discovery == "kubernetes" and args.k8s_mode == "endpointslices"
    assert (args.k8s_namespace, args.k8s_active_service, args.k8s_standby_service) == (
        "recdrill",
        "recdrill-active",
        "recdrill-standby",
    )
    assert args.store is None  # the router has no store credentials in the cloud
