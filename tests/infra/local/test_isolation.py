"""CPU isolation: the cgroup files each mechanism writes, and the kernel enforcing them.

The v1/v2 layouts are checked against a directory shaped like cgroupfs (what the kernel
reads is the files' contents); the real tests make groups under /sys/fs/cgroup and let the
kernel hold a busy process to its quota, freeze it, and count its CPU.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from contracts.resources import CFS_PERIOD_US, LOCAL_REPLICA
from infra.local import procs
from infra.local.isolation import (
    MODE_ENV,
    CgroupV1,
    CgroupV2,
    NoIsolation,
    open_isolation,
    parent_name,
)

CGROUP = Path("/sys/fs/cgroup")


def fake_v2(tmp_path: Path) -> Path:
    base = tmp_path / "cgroup"
    base.mkdir()
    (base / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (base / "cgroup.procs").write_text("")
    return base


def fake_v1(tmp_path: Path, cpuacct_apart: bool = True) -> Path:
    base = tmp_path / "cgroup"
    for controller in ("cpu", "freezer", "cpuacct"):
        (base / controller).mkdir(parents=True)
        (base / controller / "cgroup.procs").write_text("")
    (base / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (base / "freezer" / "tasks").write_text("")
    (base / "cpuacct" / "cpuacct.usage").write_text("0\n")
    return base


def test_v2_writes_quota_weight_and_freeze(tmp_path):
    base = fake_v2(tmp_path)
    iso = open_isolation(tmp_path / "env", base)
    assert isinstance(iso, CgroupV2) and iso.isolated
    iso.create("replica-a-0", LOCAL_REPLICA.cpu)
    group = base / parent_name(tmp_path / "env") / "replica-a-0"
    assert (group / "cpu.max").read_text() == f"{LOCAL_REPLICA.quota_us()} {CFS_PERIOD_US}"
    assert (group / "cpu.weight").read_text() == str(round(LOCAL_REPLICA.cpu * 100))
    iso.create("replica-a-0", 0.3, weight_cpu=LOCAL_REPLICA.cpu)  # a start-up boost
    assert (group / "cpu.max").read_text() == f"{round(0.3 * CFS_PERIOD_US)} {CFS_PERIOD_US}"
    assert (group / "cpu.weight").read_text() == str(round(LOCAL_REPLICA.cpu * 100))
    assert iso.freeze("replica-a-0", True) and (group / "cgroup.freeze").read_text() == "1"
    assert iso.procs_files("replica-a-0") == [str(group / "cgroup.procs")]
    (group / "cpu.stat").write_text("usage_usec 2500000\nnr_throttled 7\nthrottled_usec 30000\n")
    assert iso.cpu_seconds("replica-a-0") == 2.5
    assert iso.throttled("replica-a-0") == {"periods": 7, "seconds": 0.03}
    parent = base / parent_name(tmp_path / "env")
    assert (parent / "cgroup.subtree_control").read_text() == "+cpu"


def test_v1_joins_cpu_freezer_and_cpuacct_hierarchies(tmp_path):
    base = fake_v1(tmp_path)
    iso = open_isolation(tmp_path / "env", base)
    assert isinstance(iso, CgroupV1)
    iso.create("router", 0.5)
    name = parent_name(tmp_path / "env")
    cpu = base / "cpu" / name / "router"
    assert (cpu / "cpu.cfs_period_us").read_text() == str(CFS_PERIOD_US)
    assert (cpu / "cpu.cfs_quota_us").read_text() == str(CFS_PERIOD_US // 2)
    assert (cpu / "cpu.shares").read_text() == "512"
    assert iso.procs_files("router") == [
        str(base / c / name / "router" / "cgroup.procs") for c in ("cpu", "freezer", "cpuacct")
    ]
    iso.freeze("router", True)
    assert (base / "freezer" / name / "router" / "freezer.state").read_text() == "FROZEN"
    (base / "cpuacct" / name / "router" / "cpuacct.usage").write_text("1500000000\n")
    assert iso.cpu_seconds("router") == 1.5


def test_smallest_replica_budget_is_not_clamped_by_the_kernels_minimum():
    assert LOCAL_REPLICA.quota_us() >= 1000
    assert LOCAL_REPLICA.quota_us() / CFS_PERIOD_US == pytest.approx(LOCAL_REPLICA.cpu)


def test_no_writable_controller_says_why_in_one_line(tmp_path):
    iso = open_isolation(tmp_path / "env", tmp_path / "nothing-here")
    assert isinstance(iso, NoIsolation) and not iso.isolated
    assert iso.reason.startswith("not isolated: ") and "\n" not in iso.reason
    assert iso.describe() == {"mechanism": "none", "isolated": False, "reason": iso.reason}


def test_isolation_can_be_turned_off_for_the_unisolated_comparison(tmp_path, monkeypatch):
    monkeypatch.setenv(MODE_ENV, "off")
    iso = open_isolation(tmp_path / "env", fake_v2(tmp_path))
    assert not iso.isolated and MODE_ENV in iso.reason


def test_a_cgroupfs_that_refuses_writes_falls_back_unisolated(tmp_path):
    base = fake_v2(tmp_path)
    parent = base / parent_name(tmp_path / "env")
    (parent / "cgroup.subtree_control").mkdir(parents=True)  # any write to it fails
    iso = open_isolation(tmp_path / "env", base)
    assert not iso.isolated
    assert "cgroup v2" in iso.reason and "cgroup.subtree_control" in iso.reason


needs_cgroups = pytest.mark.skipif(
    os.geteuid() != 0
    or (
        not (CGROUP / "cpu" / "cpu.cfs_quota_us").exists()
        and not (CGROUP / "cgroup.controllers").exists()
    ),
    reason="needs root and a cgroup cpu controller",
)


@needs_cgroups
def test_kernel_holds_a_busy_process_to_its_quota_and_freezes_it(tmp_path):
    iso = open_isolation(tmp_path)
    assert iso.isolated, iso.reason
    try:
        iso.create("replica-x", 0.1)
        busy = procs.spawn(
            [sys.executable, "-c", "while True: pass"],
            tmp_path / "busy.log",
            os.environ,
            cgroup_procs=iso.procs_files("replica-x"),
        )
        try:
            start, began = iso.cpu_seconds("replica-x") or 0.0, time.monotonic()
            time.sleep(2.0)
            used = (iso.cpu_seconds("replica-x") or 0.0) - start
            wall = time.monotonic() - began
            assert used / wall < 0.15, f"used {used / wall:.2f} cores of a 0.1 quota"
            assert used / wall > 0.05, f"used {used / wall:.2f} cores: not running at all"
            assert iso.throttled("replica-x")["periods"] > 0
            if iso.freeze("replica-x", True):
                frozen_at = iso.cpu_seconds("replica-x") or 0.0
                time.sleep(0.5)
                assert (iso.cpu_seconds("replica-x") or 0.0) - frozen_at < 0.005
                iso.freeze("replica-x", False)
        finally:
            busy.kill()
            busy.wait()
    finally:
        iso.remove()
    assert not any((CGROUP / c / parent_name(tmp_path)).exists() for c in ("cpu", "freezer", ""))
