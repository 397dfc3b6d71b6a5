"""A DR replica over a store that the replicator fills late and out of order: it never loads
a version that does not verify, keeps serving what it has, and converges once the newest
promotion has arrived whole. Real loading code, real file stores, the real replicator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from infra.local.replication import Replicator
from model.store import StoreError, open_store
from serving.replica.engine import EngineOptions
from serving.replica.loading import ModelLoader
from serving.replica.metrics import ReplicaMetrics
from tests.factories import publish_tiny_model

MODEL = "recommender"
ORDERS = 20


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def verifies(store_url: str, version: str) -> bool:
    try:
        open_store(store_url).verify(MODEL, version)
        return True
    except StoreError:
        return False


async def promote_and_replicate(
    primary, rep: Replicator, loader: ModelLoader, seed: int
) -> tuple[str, bool]:
    """Publish and promote one version in the primary, then copy its objects and the moved
    alias to the DR store one at a time in a shuffled order, polling the DR replica after
    every object. Returns the version and whether the alias arrived before it was whole."""
    version = publish_tiny_model(primary, MODEL, seed=seed).version
    before = loader.current.version
    rep.scan()
    alias_early = False
    for rel in rep.due():
        assert rep.copy(rel)
        if rel.endswith("stable.json"):
            alias_early = not verifies(loader.store_url, version)
        await loader.refresh()
        served = loader.current.version
        assert served in (before, version), f"order {seed}: served {served}"
        assert verifies(loader.store_url, served), f"order {seed}: {served} is half-copied"
    assert rep.pending == {}
    await loader.refresh()
    assert loader.current.version == version, f"order {seed}: did not converge at once"
    return version, alias_early


def test_dr_replicas_never_serve_a_half_replicated_version(tmp_path: Path):
    primary = open_store(f"file://{tmp_path / 'primary'}")
    publish_tiny_model(primary, MODEL, seed=0)
    rep = Replicator(tmp_path / "primary", tmp_path / "dr", seed=7, clock=Clock())
    rep.step()
    loader = ModelLoader(
        store_url=f"file://{tmp_path / 'dr'}",
        model=MODEL,
        alias="stable",
        cache_dir=tmp_path / "cache",
        metrics=ReplicaMetrics(),
        options=EngineOptions(device="cpu", search="exact"),
        poll_interval_s=0.05,
    )

    async def drill() -> list[bool]:
        assert await loader.load_initial()
        return [
            (await promote_and_replicate(primary, rep, loader, seed))[1]
            for seed in range(1, ORDERS + 1)
        ]

    early = asyncio.run(drill())
    # the dangerous order (the alias before the version it names is whole) must occur
    assert 0 < sum(early) < ORDERS, early
    incomplete = loader.metrics.registry.get_sample_value(
        "recdrill_replica_model_load_failures_total", {"reason": "incomplete"}
    )
    assert incomplete and incomplete >= sum(early)
    refused = loader.metrics.registry.get_sample_value(
        "recdrill_replica_model_load_failures_total", {"reason": "verification_failed"}
    )
    assert not refused, "a version still arriving is not a corrupt one"
