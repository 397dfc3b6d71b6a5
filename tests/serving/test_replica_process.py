"""The replica as a real OS process: started with subprocess, stopped with real signals."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

import httpx
import pytest

from model.store import open_store
from serving.replica.loading import SERVED_FILE
from tests.factories import moto_s3, publish_tiny_model

pytestmark = pytest.mark.integration
BODY = {"user_id": "u1", "k": 5}


def model_info(replica) -> dict:
    return replica.get("/v1/model").json()


def stop(replica) -> int:
    replica.signal(signal.SIGTERM)
    return replica.wait_exit(timeout=30)


def left_by_an_earlier_run(store, version: str, cache) -> None:
    """What a replica that served ``version`` leaves: its cached copy and its served list."""
    store.fetch("recommender", version, cache)
    (cache / "recommender" / SERVED_FILE).write_text(json.dumps([version]))


def test_a_restart_while_the_store_dir_is_gone_serves_from_the_cache(
    tiny_store, start_replica, tmp_path
):
    cache = tmp_path / "cache"
    left_by_an_earlier_run(tiny_store.store, tiny_store.stable, cache)
    tiny_store.root.rename(tmp_path / "store-moved-away")
    replica = start_replica(tiny_store.url, cache_dir=cache)
    info = model_info(replica)
    assert (info["version"], info["source"], info["origin"]) == (
        tiny_store.stable,
        "cache",
        "cache",
    )
    resp = httpx.post(replica.url + "/v1/recommend", json=BODY, timeout=10)
    assert resp.status_code == 200 and resp.json()["model_version"] == tiny_store.stable
    assert 'load_failures_total{reason="store_unreachable"}' in replica.get("/metrics").text


def test_a_restart_against_a_dead_s3_endpoint_serves_from_the_cache(start_replica, tmp_path):
    cache = tmp_path / "cache"
    with moto_s3("models") as endpoint:
        store = open_store("s3://models/recdrill")
        version = publish_tiny_model(store).version
        left_by_an_earlier_run(store, version, cache)
    env = {
        "RECDRILL_S3_ENDPOINT_URL": endpoint,  # nothing listens there any more
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    replica = start_replica("s3://models/recdrill", cache_dir=cache, env=env)
    info = model_info(replica)
    assert (info["version"], info["source"]) == (version, "cache")
    assert "store unreachable" in replica.log()


def test_a_corrupted_stable_version_is_refused_and_previous_is_served(tiny_store, start_replica):
    tiny_store.corrupt(tiny_store.stable)
    replica = start_replica(tiny_store.url)
    info = model_info(replica)
    assert (info["version"], info["origin"]) == (tiny_store.previous, "previous")
    resp = httpx.post(replica.url + "/v1/recommend", json=BODY, timeout=10)
    assert resp.json()["model_version"] == tiny_store.previous
    metrics = replica.get("/metrics").text
    assert 'recdrill_replica_model_load_failures_total{reason="verification_failed"}' in metrics
    assert "checksum mismatch" in replica.log()


class LoadDriver:
    """Threads posting requests in a loop, recording every status and served version.

    Each worker's requests are sequential, so its own list of versions is in serving
    order; across workers the order of recording is not.
    """

    def __init__(self, url: str, workers: int = 4) -> None:
        self.url = url
        self.statuses: list[int] = []
        self.per_worker: list[list[str]] = [[] for _ in range(workers)]
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(seen,), daemon=True)
            for seen in self.per_worker
        ]

    def _loop(self, versions: list[str]) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    resp = client.post(self.url + "/v1/recommend", json=BODY)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.statuses.append(resp.status_code)
                if resp.status_code == 200:
                    versions.append(resp.json()["model_version"])

    def all_saw(self, version: str) -> bool:
        return all(seen and seen[-1] == version for seen in self.per_worker)

    def __enter__(self) -> LoadDriver:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def test_hot_reload_to_a_promoted_version_under_load_fails_no_request(tiny_store, start_replica):
    replica = start_replica(tiny_store.url)
    old = tiny_store.stable
    with LoadDriver(replica.url) as load:
        time.sleep(0.5)
        newer = tiny_store.publish(seed=11)
        deadline = time.monotonic() + 60
        while not load.all_saw(newer) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
    assert load.errors == []
    assert set(load.statuses) == {200}
    for seen in load.per_worker:
        assert seen[0] == old and seen[-1] == newer
        switch = seen.index(newer)
        assert set(seen[:switch]) == {old}
        assert set(seen[switch:]) == {newer}, "a worker was answered by the old version again"
    assert model_info(replica)["version"] == newer


async def _in_flight_then(url: str, count: int, during) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        tasks = [
            asyncio.create_task(client.post(url + "/v1/recommend", json=BODY)) for _ in range(count)
        ]
        await asyncio.sleep(0.7)  # every request is now inside the server's delay
        await asyncio.to_thread(during)
        return await asyncio.gather(*tasks, return_exceptions=True)


def test_sigterm_drains_requests_in_flight_and_exits_zero(tiny_store, start_replica):
    replica = start_replica(tiny_store.url, env={"RECDRILL_TEST_REQUEST_DELAY_S": "2"})
    readiness: list[object] = []

    def terminate() -> None:
        replica.signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            readiness.append(replica.get("/readyz", timeout=2).status_code)
        except httpx.TransportError as exc:  # listener already closed: also not ready
            readiness.append(type(exc).__name__)

    results = asyncio.run(_in_flight_then(replica.url, 12, terminate))
    assert [getattr(r, "status_code", r) for r in results] == [200] * 12
    assert readiness and readiness[0] != 200
    assert replica.wait_exit(timeout=30) == 0
    assert "draining" in replica.log()


@pytest.mark.parametrize("how", ["second-sigterm", "grace-expired"])
def test_a_second_sigterm_or_an_expired_grace_ends_the_drain_at_once(
    tiny_store, start_replica, how
):
    grace = "30" if how == "second-sigterm" else "0.5"
    replica = start_replica(
        tiny_store.url,
        env={"RECDRILL_TEST_REQUEST_DELAY_S": "20"},
        args=["--drain-grace", grace],
    )

    def terminate() -> None:
        replica.signal(signal.SIGTERM)
        if how == "second-sigterm":
            time.sleep(0.3)
            replica.signal(signal.SIGTERM)

    started = time.monotonic()
    results = asyncio.run(_in_flight_then(replica.url, 3, terminate))
    assert replica.wait_exit(timeout=15) == 1
    assert time.monotonic() - started < 15  # far less than the 20 s request delay
    for result in results:  # cut short: a clean 503 or a dropped connection, never a 500
        if isinstance(result, httpx.Response):
            assert (result.status_code, result.json()["error"]) == (503, "shutting_down")
        else:
            assert isinstance(result, httpx.TransportError), result
