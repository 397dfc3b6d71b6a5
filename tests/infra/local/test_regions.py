"""``up --regions 2`` for real: two regions, the replicator and the front door as processes;
the primary region lost whole (SIGKILLed, its store moved away) while traffic keeps being
answered by the DR region; ``down`` leaves no process of either region behind. (Failback is
the front door's unit tests' business: restarting the region here would double this test.)"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from contracts.deployment import Deployment
from infra.local import procs
from infra.local.config import MARKER_ENV
from tests.infra.local.conftest import cli, publish_store

pytestmark = pytest.mark.integration


def marked(path: Path) -> list[int]:
    return procs.pids_with_marker(f"{MARKER_ENV}={path.resolve()}\0")


def every_pid(top: Path) -> list[int]:
    return marked(top) + marked(top / "regions" / "primary") + marked(top / "regions" / "dr")


def recommend(endpoint: str) -> httpx.Response:
    return httpx.post(f"{endpoint}/v1/recommend", json={"user_id": "u1", "k": 5}, timeout=5)


def test_two_regions_fail_over_when_the_primary_dies_and_go_down_clean(tmp_path: Path):
    store = publish_store(tmp_path / "store")
    top = tmp_path / "env"
    up = cli("up", "--workdir", str(top), "--store", store, "--regions", "2", "--zones", "1",
             "--replicas-per-zone", "1", "--standby", "0", "--warm-pool", "0", "--dr-zones", "1",
             "--front-door-interval", "0.25")  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        description = json.loads((top / "deployment.json").read_text())
        deployment = Deployment.from_json(description)
        primary, dr = deployment.region("primary"), deployment.region("dr")
        assert deployment.endpoint == description["front_door"]
        assert dr.store_url == deployment.model_store.dr_url != primary.store_url
        assert dr.zones == ("dr-a",) and primary.zones == ("local-a",)
        assert description["control"]["token"] not in up.stdout + up.stderr
        status = cli("status", "--workdir", str(top), "--json", timeout=30)
        view = json.loads(status.stdout)
        assert set(view["regions"]) == {"local-primary", "local-dr"}
        assert view["front_door"]["serving"] == "local-primary"
        assert view["replication"]["pending"] == 0

        first = recommend(deployment.endpoint)
        assert first.status_code == 200 and first.headers["x-recdrill-region"] == "local-primary"
        victims = marked(top / "regions" / "primary")
        assert len(victims) == 3  # controller, replica, router
        down_region = cli("region-down", "--workdir", str(top), timeout=30)
        assert down_region.returncode == 0, down_region.stderr
        assert sorted(json.loads(down_region.stdout)["killed"]) == sorted(victims)
        assert not (tmp_path / "store").exists()  # the primary's store is unreachable too
        answers = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            answers.append(recommend(deployment.endpoint))
            regions = httpx.get(f"{deployment.endpoint}/v1/regions", timeout=5).json()
            if regions["serving"] == "local-dr" and len(answers) >= 5:
                break
            time.sleep(0.05)
        assert regions["serving"] == "local-dr" and regions["failovers"] == 1
        assert [a.status_code for a in answers] == [200] * len(answers)
        assert {a.headers["x-recdrill-region"] for a in answers} == {"local-dr"}
        assert all(a.json()["replica"].startswith("dr-") for a in answers)
        assert not any(procs.alive(pid) for pid in victims)
    finally:
        alive = every_pid(top)
        down = cli("down", "--workdir", str(top), timeout=60)
        left = every_pid(top)
        for pid in left:
            procs.signal_group(pid, signal.SIGKILL)
    assert down.returncode == 0, down.stderr
    assert alive and left == [], f"processes left after down: {left}"
    again = cli("down", "--workdir", str(top), timeout=60)
    assert again.returncode == 0 and "nothing running" in again.stderr


def test_two_regions_need_a_file_store_and_another_dr_store(tmp_path: Path):
    for extra in (
        ["--store", "s3://bucket/x"],
        ["--store", "file:///a", "--dr-store", "file:///a"],
    ):
        result = cli("up", "--workdir", str(tmp_path / "env"), "--regions", "2", *extra)
        assert result.returncode == 1 and "error:" in result.stderr
        assert "Traceback" not in result.stderr
