"""What ``bench.serving`` stands up: a published shop-sized model and real replica processes.

Kept apart from the phases and the report so each module stays one concern.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import torch

from model.architecture import ModelConfig, TwoTower
from model.artifacts import Artifacts, publish_artifacts
from model.index import IndexParams
from model.store import Manifest, open_store

REPO_ROOT = Path(__file__).resolve().parents[1]


def synthetic_artifacts(
    n_items: int, n_users: int, dim: int = 64, history_len: int = 20, seed: int = 0
) -> Artifacts:
    """Random weights with the real architecture: sizes, not quality, are what is measured.

    The held-out pairs name 2,000 users, so publishing measures the index's recall on them.
    """
    gen = torch.Generator().manual_seed(seed)
    config = ModelConfig(
        n_users=n_users + 1,
        n_items=n_items + 1,
        n_categories=200,
        n_brands=2000,
        dim=dim,
        hidden=2 * dim,
        history_len=history_len,
    )
    torch.manual_seed(seed)
    model = TwoTower(config)
    history = torch.randint(1, n_items + 1, (n_users + 1, history_len), generator=gen)
    history[0] = 0
    users = [f"user-{i}" for i in range(n_users)]
    items = [f"sku-{i}" for i in range(n_items)]
    rng = random.Random(seed)
    holdout = [(users[rng.randrange(n_users)], items[0]) for _ in range(min(2000, n_users))]
    return Artifacts(
        config=config,
        state_dict=model.state_dict(),
        users=users,
        items=items,
        item_category=torch.randint(0, 200, (n_items + 1,), generator=gen),
        item_brand=torch.randint(0, 2000, (n_items + 1,), generator=gen),
        user_history=history,
        holdout=holdout,
    )


def request_bodies(art: Artifacts, n: int, seed: int = 1) -> list[dict]:
    """A shop-like mix: 80% known users, 10% unknown with history, 10% cold start."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.8:
            bodies.append({"user_id": rng.choice(art.users), "k": 10})
        elif roll < 0.9:
            history = [rng.choice(art.items) for _ in range(5)]
            bodies.append({"user_id": f"guest-{rng.random()}", "k": 10, "history": history})
        else:
            bodies.append({"user_id": f"guest-{rng.random()}", "k": 10})
    return bodies


def publish(
    store_url: str, model: str, art: Artifacts, workdir: Path, params: IndexParams
) -> tuple[Manifest, float]:
    """Publish with an index and promote; returns the manifest and the publish seconds."""
    started = time.perf_counter()
    manifest = publish_artifacts(
        open_store(store_url), model, art, workdir, metrics={},
        popular_items=art.items[:100], data_fingerprint="synthetic", index=params,
    )  # fmt: skip
    open_store(store_url).promote(model, manifest.version)
    return manifest, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


@dataclass
class Replica:
    """A real ``python -m serving.replica`` process in its own process group."""

    proc: subprocess.Popen
    url: str
    info: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_replica(store_url: str, model: str, cache: Path, flags: list[str]) -> Replica:
    port = free_port()
    cmd = [
        sys.executable, "-m", "serving.replica", "--store", store_url, "--model", model,
        "--port", str(port), "--cache-dir", str(cache), "--zone", "bench",
        "--replica-id", f"bench-{port}", "--poll-interval", "60", "--log-level", "warning",
        *flags,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    return Replica(proc, f"http://127.0.0.1:{port}")


async def wait_ready(replica: Replica, timeout: float = 600) -> dict:
    """Wait for ``/readyz``; returns ``/v1/model`` (which search the replica uses)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if replica.proc.poll() is not None:
                raise SystemExit(f"bench: the replica exited with {replica.proc.returncode}")
            try:
                async with session.get(replica.url + "/readyz") as resp:
                    if resp.status == 200:
                        async with session.get(replica.url + "/v1/model") as info:
                            replica.info = await info.json()
                        return replica.info
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("bench: the replica never became ready")
