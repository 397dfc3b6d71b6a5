"""Serving fixtures: small factories for a published store and for real replica processes.

- ``tiny_store``: a ``file://`` store with two tiny versions (stable + previous).
- ``start_replica``: starts ``python -m serving.replica`` as a real OS process in its own
  process group, waits for ``/readyz`` (or not), and kills the group at teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from model.store import ModelStore, open_store
from tests.factories import publish_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "recommender"


@dataclass
class TinyStore:
    store: ModelStore
    url: str
    root: Path
    versions: list[str]  # oldest first; the last one is stable, the one before is previous

    @property
    def stable(self) -> str:
        return self.versions[-1]

    @property
    def previous(self) -> str:
        return self.versions[-2]

    def publish(self, seed: int, promote: bool = True) -> str:
        version = publish_tiny_model(self.store, MODEL, seed=seed, promote=promote).version
        self.versions.append(version)
        return version

    def corrupt(self, version: str, name: str = "model.safetensors") -> None:
        """Flip bytes in one file of a published version, as a bad disk or a bad actor would."""
        path = self.root / MODEL / "versions" / version / name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.fixture
def make_tiny_store(tmp_path: Path) -> Callable[..., TinyStore]:
    def make(name: str = "store", versions: int = 2) -> TinyStore:
        root = tmp_path / name
        url = f"file://{root}"
        tiny = TinyStore(open_store(url), url, root, [])
        for seed in range(versions):
            tiny.publish(seed)
        return tiny

    return make


@pytest.fixture
def tiny_store(make_tiny_store) -> TinyStore:
    return make_tiny_store()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs.

    The socket stays bound without listening, so nothing else (not even the process under
    test, picking its own free port) can take the port and answer on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@dataclass
class ReplicaProcess:
    proc: subprocess.Popen
    port: int
    log_path: Path
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 5.0) -> httpx.Response:
        return httpx.get(self.url + path, timeout=timeout)

    def wait_ready(self, timeout: float = 60.0) -> dict:
        """Poll /readyz until 200; fail with the process log if it dies or never gets ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"replica exited with {self.proc.returncode}:\n{self.log()}")
            try:
                resp = self.get("/readyz", timeout=2.0)
                if resp.status_code == 200:
                    return resp.json()
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"replica not ready after {timeout}s:\n{self.log()}")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)

    def kill_group(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def start_replica(tmp_path: Path) -> Iterator[Callable[..., ReplicaProcess]]:
    """Factory: ``start_replica(store_url, cache_dir=..., env={...}, args=[...], ready=True)``."""
    started: list[ReplicaProcess] = []

    def start(
        store_url: str,
        *,
        cache_dir: Path | None = None,
        model: str = MODEL,
        alias: str = "stable",
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        ready: bool = True,
        zone: str = "zone-t",
        replica_id: str | None = None,
    ) -> ReplicaProcess:
        port = free_port()
        log_path = tmp_path / f"replica-{port}.log"
        cmd = [
            sys.executable, "-m", "serving.replica",
            "--store", store_url, "--model", model, "--alias", alias,
            "--host", "127.0.0.1", "--port", str(port), "--zone", zone,
            "--cache-dir", str(cache_dir or tmp_path / f"cache-{port}"),
            "--replica-id", replica_id or f"r-{port}",
            "--poll-interval", "0.2", "--drain-grace", "10",
            *(args or []),
        ]  # fmt: skip
        full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RECDRILL_TORCH_THREADS": "1"}
        full_env.update(env or {})
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=full_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        replica = ReplicaProcess(proc, port, log_path)
        started.append(replica)
        if ready:
            replica.wait_ready()
        return replica

    yield start
    for replica in started:
        replica.kill_group()
