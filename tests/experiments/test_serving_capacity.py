"""zone-loss's capacity check against a real router app over HTTP, on fake replicas:
it passes where the standby covers the lost zone and fails where only rescheduling could."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from chaoslib.exceptions import ActivityFailed

from experiments.probes.serving_capacity import wait_for_serving_capacity
from serving.router.app import build_app
from tests.serving.router_fakes import FakeReplica, running_router

PER_REPLICA = 40.0
PEAK = PER_REPLICA * (6 - 2 + 1) * 0.85  # the design peak of 3 × 2 + 1: 4.25 replicas


class RouterOverHttp:
    """Fakes, a Router over them and its ASGI app on loopback, in a loop of their own."""

    def __init__(self, standby: int, expected_active: int = 6) -> None:
        zones = ("a", "b", "c")
        self.replicas = [FakeReplica(f"act-{i}", zones[i % 3]) for i in range(6)] + [
            FakeReplica(f"sb-{i}", "b", role="standby") for i in range(standby)
        ]
        self.expected_active = expected_active
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.done: asyncio.Event | None = None
        self.endpoint = ""
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),))

    async def _serve(self) -> None:
        self.done = asyncio.Event()
        async with running_router(self.replicas, expected_active=self.expected_active) as router:
            app = build_app(router)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=0, lifespan="off", log_level="error"
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            self.endpoint = f"http://127.0.0.1:{port}"
            self.ready.set()
            await self.done.wait()
            server.should_exit = True
            await task

    def lose_zone(self, zone: str) -> None:
        """Stop the zone's replicas and drop them from discovery, as a deleted pod leaves
        its EndpointSlice and the local controller lists only live processes."""

        async def stop() -> None:
            for replica in [r for r in self.replicas if r.zone == zone]:
                await replica.stop()
                self.replicas.remove(replica)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=5)

    def close(self) -> None:
        if self.done is not None:
            self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def router_over_http(standby: int, expected_active: int = 6) -> Iterator[RouterOverHttp]:
    env = RouterOverHttp(standby, expected_active)
    env.thread.start()
    try:
        assert env.ready.wait(timeout=10), "the router app never started"
        yield env
    finally:
        env.close()


def test_the_standby_carries_the_design_peak_once_the_router_drops_the_zone() -> None:
    with router_over_http(standby=1) as env:
        env.lose_zone("a")
        result = wait_for_serving_capacity(
            env.endpoint, [PEAK * 0.7, PEAK * 0.3], PER_REPLICA, "a", budget_s=3.0, limit_s=5.0
        )
    assert result["judged"] is True
    assert result["serving_capacity"] == pytest.approx(5.0), "4 actives and the standby"
    assert result["needed_replicas"] == pytest.approx(4.25, abs=0.01)
    assert result["below_capacity_s"] <= 3.0


def test_a_router_that_counts_only_listed_replicas_never_uses_the_standby() -> None:
    with router_over_http(standby=1, expected_active=0) as env:
        env.lose_zone("a")
        with pytest.raises(ActivityFailed, match=r"watched: 4\.00 replicas' worth"):
            wait_for_serving_capacity(env.endpoint, PEAK, PER_REPLICA, "a", limit_s=2.0)


def test_without_the_standby_the_design_peak_is_not_carried() -> None:
    with router_over_http(standby=0) as env:
        env.lose_zone("a")
        with pytest.raises(ActivityFailed, match=r"for the whole 2 s watched: 4\.00 replicas"):
            wait_for_serving_capacity(env.endpoint, PEAK, PER_REPLICA, "a", limit_s=2.0)


def test_a_load_the_survivors_carry_passes_without_a_standby() -> None:
    with router_over_http(standby=0) as env:
        env.lose_zone("a")
        result = wait_for_serving_capacity(env.endpoint, 3.5 * PER_REPLICA, PER_REPLICA, "a")
    assert result["serving_capacity"] == pytest.approx(4.0)


def test_a_zone_the_router_still_uses_is_not_yet_lost() -> None:
    with router_over_http(standby=1) as env, pytest.raises(ActivityFailed, match="whole 1 s"):
        wait_for_serving_capacity(env.endpoint, PER_REPLICA, PER_REPLICA, "a", limit_s=1.0)


def test_a_gap_over_the_budget_fails_with_its_length() -> None:
    with router_over_http(standby=1) as env:
        timer = threading.Timer(1.0, env.lose_zone, args=("a",))
        timer.start()
        try:
            with pytest.raises(ActivityFailed, match=r"below capacity for 1\.\d s.*budget 0\.5 s"):
                wait_for_serving_capacity(
                    env.endpoint, PEAK, PER_REPLICA, "a", budget_s=0.5, limit_s=5.0
                )
        finally:
            timer.join()


def test_no_measured_capacity_is_said_not_judged() -> None:
    result = wait_for_serving_capacity("http://127.0.0.1:9", 100.0, 0.0, "a")
    assert result == {"judged": False, "reason": "no measured capacity to judge the load against"}
