"""The warm pool with real ``infra.local.warm`` processes: priority, order, log, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local import procs
from infra.local.warm import read_order
from infra.local.warm_pool import WarmPool
from tests.infra.local.test_procs import nice_of

REPO_ROOT = Path(__file__).resolve().parents[3]


def pool(tmp_path: Path, size: int, nice: int) -> WarmPool:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return WarmPool(size, tmp_path / "logs", env, nice=nice)


def autogroup_nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def reap(members: list[subprocess.Popen]) -> None:
    for proc in members:
        if proc.poll() is None:
            procs.signal_group(proc.pid, 9)
        proc.wait(timeout=10)


def test_members_wait_at_low_priority_and_the_pool_refills(tmp_path):
    warm = pool(tmp_path, 2, nice=3)
    warm.fill()
    first = list(warm.waiting)
    members: list[subprocess.Popen] = []
    try:
        assert len(first) == 2 and warm.describe()["pids"] == [p.pid for p in first]
        for proc in first:
            assert os.getpgid(proc.pid) == proc.pid, "each member leads its own group"
            assert nice_of(proc.pid) == 3
            if Path(f"/proc/{proc.pid}/autogroup").exists():
                assert autogroup_nice(proc.pid) == 3, "the session's group competes, not the thread"
        procs.signal_group(first[0].pid, 9)
        first[0].wait(timeout=10)
        warm.fill()
        assert len(warm.waiting) == 2 and first[0] not in warm.waiting, "a dead member is replaced"
        deadline = time.monotonic() + 120
        while warm.ready < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert warm.describe()["ready"] == 2, "both members said they finished their imports"
        members += warm.close()
        assert [m.wait(timeout=120) for m in members] == [0, 0], "closed stdin: a clean exit"
        assert warm.take(["--help"], tmp_path / "x.log", nice=0) is None
    finally:
        reap(first + members + warm.close())


@pytest.mark.skipif(not procs.can_restore_priority(), reason="lowering a nice value needs root")
def test_a_taken_member_runs_the_replica_with_its_order_log_and_priority(tmp_path):
    warm = pool(tmp_path, 1, nice=7)
    warm.fill()
    member = warm.waiting[0]
    log_path = tmp_path / "logs" / "local-a-0.log"
    try:
        taken = warm.take(["--store", "file:///nowhere", "--model", "m"], log_path, nice=0)
        assert taken is member and warm.waiting == [] and warm.taken == 1
        assert nice_of(member.pid) == 0, "a taken member gets its normal priority back"
        assert member.wait(timeout=120) == 2, "argparse refused the order's argv in the member"
        text = log_path.read_text()
        assert f"warm process {member.pid} starts serving.replica" in text
        assert "--cache-dir" in text, "the replica's own error went to the slot's log"
    finally:
        reap([member])


def test_an_empty_pool_says_so(tmp_path):
    empty = pool(tmp_path, 0, nice=0)
    empty.fill()
    assert empty.waiting == [] and empty.take(["--help"], tmp_path / "x.log", nice=0) is None


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("not json", "not JSON"),
        ('{"argv": ["a"]}', "exactly"),
        ('{"argv": "a", "log": "x"}', "list of strings"),
        ('{"argv": [], "log": ""}', "path"),
    ],
)
def test_bad_orders_name_what_is_wrong(line, wrong):
    with pytest.raises(ValueError, match=wrong):
        read_order(line)


def test_a_bad_order_is_a_one_line_error_not_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "infra.local.warm"],
        input="[1]\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("infra.local.warm: order must be an object")
    assert "Traceback" not in result.stderr


def test_a_warm_member_is_taken_before_an_older_one_still_importing(tmp_path):
    warm = pool(tmp_path, 1, nice=0)
    warm.fill()
    stuck = warm.waiting[0]
    procs.signal_group(stuck.pid, signal.SIGSTOP)  # never gets past its imports
    warm.size = 2
    warm.fill()
    fresh = warm.waiting[1]
    try:
        deadline = time.monotonic() + 120
        while warm.ready < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert warm.ready == 1
        assert warm.take(["--version-is-not-a-flag"], tmp_path / "r.log", nice=0) is fresh
        assert warm.waiting == [stuck]
    finally:
        reap([stuck, fresh, *warm.close()])
