"""slow_replication / restore_replication against the replicator's real HTTP app (in a
thread, over real stores): recorded before it acts, undone by the rollback, refused by
every driver that cannot slow replication."""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Iterator

import pytest
from aiohttp import web
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import DRIVERS
from experiments.faults.local_replication import SLOWED, restore_replication, slow_replication
from experiments.rollback import rollback_state
from infra.local.procs import free_port
from infra.local.replication import Replicator
from infra.local.replicator import build_app
from tests.experiments.fakes import write_deployment

TOKEN = "s3cr3t-control-token"  # the fake deployment's control token


@pytest.fixture
def replicator(tmp_path) -> Iterator[tuple[str, Replicator]]:
    """The replicator's app on loopback around a real Replicator (never stepped)."""
    (tmp_path / "src").mkdir()
    rep = Replicator(tmp_path / "src", tmp_path / "dst", lag_s=1.0, spread_s=0.5, seed=1)
    port, ready, stop = free_port(), threading.Event(), threading.Event()

    async def serve() -> None:
        runner = web.AppRunner(build_app(rep, TOKEN))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.02)
        await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}", rep
    finally:
        stop.set()
        thread.join(10)


def configuration(tmp_path, url: str) -> dict:
    return {
        "deployment_file": str(write_deployment(tmp_path, "local")),
        "state_file": str(tmp_path / "state.json"),
        "replicator_url": url,
    }


def test_slowing_records_the_old_lag_first_and_restore_puts_it_back(tmp_path, replicator):
    url, rep = replicator
    config = configuration(tmp_path, url)
    out = slow_replication(20.0, 3.0, configuration=config, secrets={"control_token": TOKEN})
    assert (rep.lag_s, rep.spread_s) == (20.0, 3.0)
    assert out["before"] == {"lag_s": 1.0, "spread_s": 0.5}
    (pending,) = state.pending(config["state_file"], SLOWED)
    assert (pending["params"]["lag_s"], pending["params"]["spread_s"]) == (1.0, 0.5)
    restore_replication(configuration=config, secrets={"control_token": TOKEN})
    assert (rep.lag_s, rep.spread_s) == (1.0, 0.5)
    assert state.pending(config["state_file"], SLOWED) == []
    assert restore_replication(configuration=config, secrets=None) == []  # idempotent


def test_the_rollback_restores_a_lag_left_slowed_by_a_crashed_run(tmp_path, replicator):
    url, rep = replicator
    config = configuration(tmp_path, url)
    slow_replication(30.0, 0.0, configuration=config, secrets=None)  # token from the file
    reverted, failed = rollback_state(config["state_file"])
    assert failed == [] and len(reverted) == 1
    assert (rep.lag_s, rep.spread_s) == (1.0, 0.5)


def test_a_wrong_token_or_bad_lag_fails_clearly_and_changes_nothing(tmp_path, replicator):
    url, rep = replicator
    config = configuration(tmp_path, url)
    with pytest.raises(ActivityFailed, match="answered 401"):
        slow_replication(20.0, configuration=config, secrets={"control_token": "wrong"})
    with pytest.raises(ActivityFailed, match="lag_s must be a number of seconds >= 0"):
        slow_replication(-1, configuration=config, secrets=None)
    assert rep.lag_s == 1.0
    assert state.pending(config["state_file"], SLOWED) == []


def test_an_unreachable_replicator_is_named(tmp_path):
    config = configuration(tmp_path, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ActivityFailed, match=r"replicator at .* is unreachable"):
        slow_replication(20.0, configuration=config, secrets=None)


@pytest.mark.parametrize("driver", ["kubernetes", "aws", "file", "s3"])
def test_every_other_driver_refuses_saying_why(driver):
    module = importlib.import_module(DRIVERS[driver])
    with pytest.raises(ActivityFailed, match="cannot slow replication"):
        module.slow_replication(20.0, 1.0, configuration={}, secrets=None)
    with pytest.raises(ActivityFailed, match="cannot restore replication"):
        module.restore_replication(configuration={}, secrets=None)


def test_the_cluster_refusal_points_at_the_rtc_alarm():
    module = importlib.import_module(DRIVERS["aws"])
    with pytest.raises(ActivityFailed, match="Replication Time Control"):
        module.slow_replication(20.0, configuration={}, secrets=None)
