"""The start-up chain and hot reload, against a real file:// store (no HTTP, no process)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from serving.replica.engine import EngineOptions
from serving.replica.loading import ModelLoader
from serving.replica.metrics import ReplicaMetrics


def make_loader(store_url: str, cache_dir: Path, alias: str = "stable") -> ModelLoader:
    return ModelLoader(
        store_url=store_url,
        model="recommender",
        alias=alias,
        cache_dir=cache_dir,
        metrics=ReplicaMetrics(),
        options=EngineOptions(),
        poll_interval_s=0.05,
    )


def load(loader: ModelLoader) -> bool:
    return asyncio.run(loader.load_initial())


def failures(loader: ModelLoader, reason: str) -> float:
    value = loader.metrics.registry.get_sample_value(
        "recdrill_replica_model_load_failures_total", {"reason": reason}
    )
    return value or 0.0


def test_loads_the_stable_alias_from_the_store_into_the_cache(tiny_store, tmp_path):
    loader = make_loader(tiny_store.url, tmp_path / "cache")
    assert load(loader)
    assert (loader.current.version, loader.current.origin) == (tiny_store.stable, "alias")
    assert loader.current.source == "store"
    assert (tmp_path / "cache" / "recommender" / tiny_store.stable / "manifest.json").is_file()


def test_a_corrupted_stable_version_is_refused_and_previous_served(tiny_store, tmp_path):
    tiny_store.corrupt(tiny_store.stable)
    loader = make_loader(tiny_store.url, tmp_path / "cache")
    assert load(loader)
    assert (loader.current.version, loader.current.origin) == (tiny_store.previous, "previous")
    assert failures(loader, "verification_failed") == 1


def test_corruption_in_the_store_is_caught_even_when_a_good_copy_is_cached(tiny_store, tmp_path):
    cache = tmp_path / "cache"
    assert load(make_loader(tiny_store.url, cache))
    tiny_store.corrupt(tiny_store.stable)
    loader = make_loader(tiny_store.url, cache)
    assert load(loader)
    assert loader.current.version == tiny_store.previous


def test_without_usable_aliases_an_earlier_stable_version_is_served(make_tiny_store, tmp_path):
    store = make_tiny_store(versions=3)
    refused = store.publish(seed=7, promote=False)  # newest and verifying, never promoted
    for version in store.versions[1:3]:  # stable and previous are both bad
        store.corrupt(version, "features.safetensors")
    loader = make_loader(store.url, tmp_path / "cache")
    assert load(loader)
    assert (loader.current.version, loader.current.origin) == (store.versions[0], "history")
    assert loader.current.version != refused


def test_a_never_promoted_version_is_never_served(make_tiny_store, tmp_path):
    store = make_tiny_store(versions=2)
    store.publish(seed=7, promote=False)  # a candidate the gate refused: it verifies
    for version in store.versions[:2]:
        store.corrupt(version, "features.safetensors")
    loader = make_loader(store.url, tmp_path / "cache")
    assert not load(loader)
    assert loader.current is None


def test_a_restart_while_the_store_is_down_serves_the_cached_copy(tiny_store, tmp_path):
    cache = tmp_path / "cache"
    assert load(make_loader(tiny_store.url, cache))
    tiny_store.root.rename(tiny_store.root.with_name("store-away"))
    loader = make_loader(tiny_store.url, cache)
    assert load(loader)
    assert (loader.current.version, loader.current.source) == (tiny_store.stable, "cache")
    assert failures(loader, "store_unreachable") == 1


def test_a_restart_in_a_store_outage_serves_the_version_served_last_not_a_rolled_back_one(
    tiny_store, tmp_path
):
    """A rollout then its rollback leave the rolled-back version, the newest, in the cache:
    the cache fallback takes what the replica served last."""
    cache = tmp_path / "cache"
    loader = make_loader(tiny_store.url, cache)
    stable = tiny_store.stable

    async def rollout_and_rollback() -> str:
        await loader.load_initial()
        rolled_back = tiny_store.publish(seed=5)
        await loader.refresh()
        assert loader.current.version == rolled_back
        tiny_store.store.rollback("recommender", from_version=rolled_back)
        await loader.refresh()
        return rolled_back

    rolled_back = asyncio.run(rollout_and_rollback())
    assert loader.current.version == stable
    assert sorted(p.name for p in (cache / "recommender").iterdir() if p.is_dir()) == sorted(
        [stable, rolled_back]
    )
    assert rolled_back > stable  # the newest cached copy is the rolled-back one
    tiny_store.root.rename(tiny_store.root.with_name("store-away"))
    restarted = make_loader(tiny_store.url, cache)
    assert load(restarted)
    assert (restarted.current.version, restarted.current.source) == (stable, "cache")


def test_the_cache_never_serves_a_version_this_replica_did_not_serve(tiny_store, tmp_path):
    cache = tmp_path / "cache"
    assert load(make_loader(tiny_store.url, cache))
    served = cache / "recommender" / ".served"
    assert json.loads(served.read_text()) == [tiny_store.stable]
    served.unlink()  # nothing recorded: a cached copy alone is not enough
    tiny_store.root.rename(tiny_store.root.with_name("store-away"))
    loader = make_loader(tiny_store.url, cache)
    assert not load(loader)
    assert loader.current is None


def test_a_tampered_cache_copy_is_never_served(tiny_store, tmp_path):
    cache = tmp_path / "cache"
    assert load(make_loader(tiny_store.url, cache))
    weights = cache / "recommender" / tiny_store.stable / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    tiny_store.root.rename(tiny_store.root.with_name("store-away"))
    loader = make_loader(tiny_store.url, cache)
    assert not load(loader)
    assert loader.current is None
    assert failures(loader, "verification_failed") == 1


def test_refresh_swaps_to_a_newly_promoted_version(tiny_store, tmp_path):
    loader = make_loader(tiny_store.url, tmp_path / "cache")

    async def scenario():
        await loader.load_initial()
        unchanged = await loader.refresh()
        newer = tiny_store.publish(seed=5)
        changed = await loader.refresh()
        return unchanged, newer, changed

    unchanged, newer, changed = asyncio.run(scenario())
    assert unchanged["changed"] is False and unchanged["error"] is None
    assert changed["changed"] is True and loader.current.version == newer


def test_a_failed_reload_keeps_the_old_version_and_is_counted(tiny_store, tmp_path):
    loader = make_loader(tiny_store.url, tmp_path / "cache")

    async def scenario():
        await loader.load_initial()
        bad = tiny_store.publish(seed=9, promote=False)
        tiny_store.corrupt(bad)
        tiny_store.store.promote("recommender", bad, force=True)
        first = await loader.refresh()
        backed_off = await loader.refresh()
        forced = await loader.refresh(force=True)
        return first, backed_off, forced

    first, backed_off, forced = asyncio.run(scenario())
    assert first["changed"] is False and "checksum mismatch" in first["error"]
    assert "failed recently" in backed_off["error"]
    assert "checksum mismatch" in forced["error"]
    assert loader.current.version == tiny_store.versions[1]
    assert failures(loader, "verification_failed") == 2


def test_polling_survives_a_store_outage_and_counts_it(tiny_store, tmp_path):
    loader = make_loader(tiny_store.url, tmp_path / "cache")

    async def scenario():
        await loader.load_initial()
        tiny_store.root.rename(tiny_store.root.with_name("store-away"))
        poller = asyncio.create_task(loader.poll_forever())
        await asyncio.sleep(0.4)
        alive = not poller.done()
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        return alive

    assert asyncio.run(scenario())
    assert loader.current.version == tiny_store.stable
    errors = loader.metrics.registry.get_sample_value("recdrill_replica_store_poll_errors_total")
    assert errors >= 2


@pytest.mark.parametrize("content", ["{not json", json.dumps({"no": "version"})])
def test_a_corrupt_alias_object_serves_only_what_this_replica_served_before(
    tiny_store, tmp_path, content
):
    cache = tmp_path / "cache"
    alias = tiny_store.root / "recommender" / "aliases" / "stable.json"
    good = alias.read_text()
    alias.write_text(content)
    assert not load(make_loader(tiny_store.url, tmp_path / "fresh-cache"))
    alias.write_text(good)
    assert load(make_loader(tiny_store.url, cache))
    alias.write_text(content)
    loader = make_loader(tiny_store.url, cache)
    assert load(loader)
    assert (loader.current.version, loader.current.origin) == (tiny_store.stable, "cache")


def test_poll_waits_are_jittered_so_replicas_started_together_drift_apart() -> None:
    """Replicas started in step must not all load a promoted version at the same moment."""
    import random

    from serving.replica.loading import POLL_JITTER, poll_delay

    interval = 5.0
    waits = [poll_delay(interval, random.Random(seed)) for seed in range(200)]
    assert all(interval * (1 - POLL_JITTER) <= w <= interval * (1 + POLL_JITTER) for w in waits)
    assert abs(sum(waits) / len(waits) - interval) < 0.5, "the mean interval stays the interval"

    def fifth_poll(seed: int) -> float:
        rng = random.Random(seed)
        return sum(poll_delay(interval, rng) for _ in range(5))

    together = sum(
        abs(fifth_poll(2 * i) - fifth_poll(2 * i + 1)) < 0.1 * interval for i in range(100)
    )
    assert together < 20, f"{together} of 100 replica pairs still poll within 0.5 s of each other"
