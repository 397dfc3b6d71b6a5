"""Child-process helpers: sessions, parent-death signal, nice values, /proc scans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local import procs


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_spawned_child_has_its_own_group_and_a_nice_value(tmp_path):
    marker = f"RECDRILL_TEST_MARKER={tmp_path}"
    env = {**os.environ, "RECDRILL_TEST_MARKER": str(tmp_path)}
    proc = procs.spawn(["sleep", "30"], tmp_path / "x.log", env, nice=7)
    try:
        assert os.getpgid(proc.pid) == proc.pid
        assert nice_of(proc.pid) == 7
        assert procs.pids_with_marker(marker + "\0") == [proc.pid]
        if procs.renice(proc.pid, 0):
            assert nice_of(proc.pid) == 0
        assert procs.signal_group(proc.pid, signal.SIGSTOP)
        assert procs.wait_gone([proc.pid], 0.2) == [proc.pid]
        for _ in range(100):
            if procs.process_state(proc.pid) == "T":
                break
            procs.wait_gone([proc.pid], 0.02)
        assert procs.process_state(proc.pid) == "T"
        procs.signal_group(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        assert procs.pids_with_marker(marker + "\0") == []
        assert not procs.signal_group(proc.pid, signal.SIGKILL), "gone: reports False"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_child_dies_when_the_process_that_spawned_it_is_killed(tmp_path):
    """A middle process spawns a grandchild with PDEATHSIG, prints its pid, and is SIGKILLed."""
    code = (
        "import sys, time, pathlib\n"
        "from infra.local import procs\n"
        "p = procs.spawn(['sleep', '60'], pathlib.Path(sys.argv[1]))\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    middle = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "child.log")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    try:
        child = int(middle.stdout.readline())
        assert procs.alive(child)
        os.kill(middle.pid, signal.SIGKILL)
        middle.wait(timeout=5)
        assert procs.wait_gone([child], 10) == [], "the grandchild outlived its parent"
    finally:
        if middle.poll() is None:
            os.killpg(middle.pid, signal.SIGKILL)
            middle.wait()
        middle.stdout.close()


def test_free_port_is_bindable():
    import socket

    port = procs.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("name", ["TERM", "KILL", "STOP", "CONT"])
def test_signal_names(name):
    assert procs.SIGNALS[name] == getattr(signal, f"SIG{name}")
