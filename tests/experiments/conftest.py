"""Shared experiment fixtures: the one real catalog run, and a fake Kubernetes cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from infra.k8s.pods import PodSettings
from infra.k8s.policies import network_policies
from infra.k8s.spec import WorkloadSpec
from infra.local.isolation import MODE_ENV
from tests.experiments.fake_kubernetes import ZONE, default_cluster, fake_kubernetes
from tests.experiments.local_env import LocalEnvironment

REPLICA_CAPACITY_RPS = 11.7


@pytest.fixture(scope="session")
def catalog_drill(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalEnvironment, Path, CompletedProcess]]:
    """Every local experiment run once with the real chaos CLI on a real environment.

    The environment is brought down as soon as the catalog is done (its files stay), so
    the tests that read the journals don't hold a dozen idle processes for the session.
    """
    root = tmp_path_factory.mktemp("catalog")
    # A router whose per-try timeout fits inside the 250 ms p99 budget: with the local
    # default (0.25 s) a request that meets the frozen replica of slow-replica alone
    # takes the whole budget (see docs/experiments.md, findings).
    # Unisolated: this run checks the catalog's mechanics (every journal, rollback and the
    # gate) on a tiny model at the catalog's default load; with 40m replicas its zone-loss
    # window degraded 18% once in three runs. Verdicts under isolation are the drill's
    # (make drill), and tests/infra/local checks the isolation itself.
    previous = os.environ.get(MODE_ENV)
    os.environ[MODE_ENV] = "off"
    try:
        env = LocalEnvironment(root, "--router-try-timeout", "0.1")
    finally:
        if previous is None:
            os.environ.pop(MODE_ENV, None)
        else:
            os.environ[MODE_ENV] = previous
    try:
        journals = root / "journals"
        # One replica's worth such that the catalog's 50 rps needs 4.27 replicas, what
        # the design peak asks of 3 × 2 + 1 (4.25): zone-loss judges its capacity check.
        done = env.run(journals, "--replica-capacity-rps", str(REPLICA_CAPACITY_RPS))
    finally:
        env.close()
    yield env, journals, done


def _stack_policies() -> dict[str, dict]:
    """The NetworkPolicies the Pulumi program renders for an EKS-like stack (S3 on 443)."""
    pods = PodSettings(
        namespace="recdrill",
        image="recdrill:test",
        store_url="s3://models/recdrill",
        model="recommender",
        zone_label=ZONE,
        gpus_per_replica=0,
    )
    spec = WorkloadSpec(
        pods=pods,
        zones=("eu-west-1a", "eu-west-1b"),
        replicas_per_zone=1,
        standby_replicas=1,
        peak_replicas=3,
        max_replicas=4,
        router_replicas=2,
    )
    return {p["metadata"]["name"]: p for p in network_policies(spec)}


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("CHAOSTOOLKIT_IN_POD", raising=False)
    fake = default_cluster()
    fake.policies = _stack_policies()
    with fake_kubernetes(fake) as running:
        monkeypatch.setenv("KUBERNETES_HOST", running.server.url)
        yield running
