"""Local-environment fixtures: a tiny published store and a real ``infra.local`` environment.

``LocalEnv`` starts ``python -m infra.local up`` for real and, at teardown, runs ``down``,
then checks through /proc that no process of the environment is left (and kills any).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.local import procs
from infra.local.client import ControlClient
from infra.local.config import MARKER_ENV
from model.store import open_store
from tests.factories import publish_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "infra.local", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env,
    )


def env_pids(workdir: Path) -> list[int]:
    return procs.pids_with_marker(f"{MARKER_ENV}={workdir.resolve()}\0")


def publish_store(root: Path) -> str:
    url = f"file://{root}"
    publish_tiny_model(open_store(url), "recommender", seed=0)
    return url


@dataclass
class LocalEnv:
    workdir: Path
    store: str
    deployment: dict
    control: ControlClient
    up_output: str = ""

    @property
    def endpoint(self) -> str:
        return self.deployment["endpoint"]

    def down(self) -> subprocess.CompletedProcess:
        return cli("down", "--workdir", str(self.workdir), timeout=60)

    def reap(self) -> None:
        """Last-resort cleanup so a failed test never leaves processes behind."""
        for pid in env_pids(self.workdir):
            procs.signal_group(pid, signal.SIGKILL)


def start_env(workdir: Path, store: str, *args: str) -> LocalEnv:
    result = cli("up", "--workdir", str(workdir), "--store", store, *args)
    if result.returncode != 0:
        for pid in env_pids(workdir):
            procs.signal_group(pid, signal.SIGKILL)
        pytest.fail(f"infra.local up failed: {result.stderr[-2000:]}")
    deployment = json.loads((workdir / "deployment.json").read_text())
    client = ControlClient.from_deployment(deployment)
    return LocalEnv(workdir, store, deployment, client, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnv]:
    """3 zones × 2 active + 1 standby, shared by a test module (tests restore what they break).
    Teardown is itself a check: ``down`` must stop all twelve processes, and a second ``down``
    must find nothing and still exit 0."""
    root = tmp_path_factory.mktemp("localenv")
    store = publish_store(root / "store")
    env = start_env(root / "env", store, "--reschedule-delay", "1.0")
    try:
        yield env
    finally:
        env.control.close()
        pids = env_pids(env.workdir)
        result = env.down()
        left = env_pids(env.workdir)
        again = env.down()
        env.reap()
        # controller, 7 replicas, router and 3 warm processes were all running
        assert len(pids) == 12, pids
        assert result.returncode == 0, result.stderr
        assert left == [], f"processes left after down: {left}"
        assert again.returncode == 0 and "nothing running" in again.stderr
