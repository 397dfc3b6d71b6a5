"""The zone-hang fault's own check: a partitioned replica hangs, a dead one is refused."""

from __future__ import annotations

import signal
import sys
import time

import httpx

from experiments.faults.partition import ANSWERED, HANGS, REFUSED, answer_to
from infra.local import procs


def _serve(tmp_path, port: int):
    proc = procs.spawn(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        tmp_path / "http.log",
        None,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("http.server did not start")


def test_answered_hanging_and_refused_are_told_apart(tmp_path):
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        assert answer_to(url) == ANSWERED
        server.send_signal(signal.SIGSTOP)  # the kernel still holds its socket: a hang
        began = time.monotonic()
        assert answer_to(url, timeout_s=0.3) == HANGS
        assert time.monotonic() - began >= 0.3
        server.send_signal(signal.SIGCONT)
        assert answer_to(url) == ANSWERED
    finally:
        server.kill()
        server.wait()
    assert answer_to(url) == REFUSED  # a killed zone: refused at once, not a partition
