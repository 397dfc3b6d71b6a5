"""The replicator's core against real directories, on a fake clock: lag, shuffled order,
whole objects only, a lost source, and the lag of each promoted version."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from infra.local import procs
from infra.local.replication import Replicator
from infra.local.replicator import LAG_ROUTE, STATE_ROUTE, build_app
from model.store import open_store
from tests.factories import publish_tiny_model

MODEL = "recommender"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replicator(tmp_path: Path, clock: Clock, **kwargs) -> Replicator:
    return Replicator(tmp_path / "primary", tmp_path / "dr", clock=clock, **kwargs)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_objects_arrive_only_after_the_lag_and_whole(tmp_path: Path):
    clock = Clock()
    store = open_store(f"file://{tmp_path / 'primary'}")
    publish_tiny_model(store, MODEL, seed=0)
    rep = replicator(tmp_path, clock, lag_s=5.0, seed=1)
    rep.scan()
    assert rep.step() == 0 and not (tmp_path / "dr").exists()
    clock.now += 4.9
    assert rep.step() == 0
    clock.now += 0.2
    assert rep.step() == len(files_under(tmp_path / "primary"))
    assert files_under(tmp_path / "dr") == files_under(tmp_path / "primary")
    assert rep.state()["pending"] == 0
    assert not [p for p in (tmp_path / "dr").rglob("*") if ".tmp-" in p.name]


def test_the_order_is_shuffled_so_an_alias_can_land_before_its_version(tmp_path: Path):
    store = open_store(f"file://{tmp_path / 'primary'}")
    publish_tiny_model(store, MODEL, seed=0)
    alias_first = manifest_before_data = 0
    for seed in range(20):
        rep = replicator(tmp_path, Clock(), seed=seed)
        rep.scan()
        order = rep.due()
        assert sorted(order) == sorted(files_under(tmp_path / "primary"))
        where = {name.rsplit("/", 1)[-1]: i for i, name in enumerate(order)}
        alias_first += where["stable.json"] < min(i for n, i in where.items() if n != "stable.json")
        manifest_before_data += where["manifest.json"] < where["model.safetensors"]
    assert 0 < alias_first < 20 and 0 < manifest_before_data < 20


def test_a_rewritten_alias_is_copied_again(tmp_path: Path):
    clock = Clock()
    store = open_store(f"file://{tmp_path / 'primary'}")
    publish_tiny_model(store, MODEL, seed=0)
    rep = replicator(tmp_path, clock)
    rep.step()
    newer = publish_tiny_model(store, MODEL, seed=1).version
    rep.step()
    assert open_store(f"file://{tmp_path / 'dr'}").resolve(MODEL, "stable") == newer


def test_a_lost_source_is_counted_not_fatal_and_nothing_is_deleted(tmp_path: Path):
    clock = Clock()
    store = open_store(f"file://{tmp_path / 'primary'}")
    publish_tiny_model(store, MODEL, seed=0)
    rep = replicator(tmp_path, clock, lag_s=1.0)
    rep.step()
    clock.now += 2
    rep.step()
    copied = files_under(tmp_path / "dr")
    publish_tiny_model(store, MODEL, seed=1)
    rep.scan()
    (tmp_path / "primary").rename(tmp_path / "gone")
    clock.now += 2
    assert rep.step() == 0
    state = rep.state()
    assert state["source_up"] is False and state["errors"] > 0 and state["pending"] > 0
    assert files_under(tmp_path / "dr") == copied


def test_the_lag_of_each_promoted_version_is_recorded(tmp_path: Path):
    clock, wall = Clock(), Clock()
    store = open_store(f"file://{tmp_path / 'primary'}")
    first = publish_tiny_model(store, MODEL, seed=0).version
    rep = replicator(tmp_path, clock, lag_s=3.0)
    rep.wall = wall
    rep.scan(immediate=True)
    rep.step()
    second = publish_tiny_model(store, MODEL, seed=1).version
    rep.step()
    promo = rep.promotions[(MODEL, second)]
    promo.promoted_at = wall.now  # the alias's own clock is real time; pin it to the fake one
    clock.now += 2
    wall.now += 2
    rep.step()
    state = rep.state()
    assert state["behind_s"] == {MODEL: 2.0}
    lags = {p["version"]: p for p in state["promotions"]}
    assert lags[first]["replicated"] and not lags[second]["replicated"]
    clock.now += 2
    wall.now += 2
    rep.step()
    lags = {p["version"]: p for p in rep.state()["promotions"]}
    assert lags[second] == {"model": MODEL, "version": second, "replicated": True, "lag_s": 4.0}
    assert rep.state()["behind_s"] == {MODEL: 0.0}


def test_a_lag_change_applies_to_objects_already_waiting(tmp_path: Path):
    clock = Clock()
    publish_tiny_model(open_store(f"file://{tmp_path / 'primary'}"), MODEL, seed=0)
    rep = replicator(tmp_path, clock, lag_s=600.0)
    assert rep.step() == 0
    rep.set_lag(0.0)
    assert rep.step() > 0
    for bad in (-1, "5", True, float("nan")):
        with pytest.raises(ValueError, match="lag_s"):
            rep.set_lag(bad)


def test_the_http_side_needs_the_token_and_refuses_bad_bodies(tmp_path: Path):
    publish_tiny_model(open_store(f"file://{tmp_path / 'primary'}"), MODEL, seed=0)
    rep = replicator(tmp_path, Clock(), lag_s=1.0)
    port = procs.free_port()

    async def go() -> None:
        runner = web.AppRunner(build_app(rep, "secret"))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await asyncio.to_thread(check, f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()

    def check(url: str) -> None:
        rep.step()
        auth = {"Authorization": "Bearer secret"}
        assert httpx.get(url + STATE_ROUTE).status_code == 401
        assert httpx.put(url + LAG_ROUTE, json={"lag_s": 0}).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert httpx.put(url + LAG_ROUTE, json={"lag_s": 0}, headers=bad).status_code == 401
        for body in (b"{", b"[]", b'{"lag_s": -1}', b'{"lag": 1}', b'{"lag_s": 1, "x": 2}'):
            resp = httpx.put(url + LAG_ROUTE, content=body, headers=auth)
            assert resp.status_code == 400 and resp.json()["detail"], body
        assert rep.lag_s == 1.0
        resp = httpx.put(url + LAG_ROUTE, json={"lag_s": 7.5, "spread_s": 0}, headers=auth)
        assert resp.status_code == 200 and rep.lag_s == 7.5
        assert httpx.get(url + STATE_ROUTE, headers=auth).json()["pending"] > 0
        metrics = httpx.get(url + "/metrics").text
        assert "recdrill_replication_pending_objects" in metrics
        assert "recdrill_replication_lag_setting_seconds 7.5" in metrics
        assert 'recdrill_replication_version_lag_seconds{model="recommender"' in metrics

    asyncio.run(go())


def test_a_version_promoted_before_replication_started_is_not_counted_late_from_before(
    tmp_path: Path,
):
    publish_tiny_model(open_store(f"file://{tmp_path / 'primary'}"), MODEL, seed=0)
    wall = Clock()
    wall.now = time.time() + 3600  # replication starts an hour after the promotion
    rep = Replicator(tmp_path / "primary", tmp_path / "dr", clock=Clock(), wall=wall)
    rep.scan(immediate=True)
    rep.step()
    [promo] = rep.state()["promotions"]
    assert promo["replicated"] and promo["lag_s"] == 0.0
