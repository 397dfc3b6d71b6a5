"""CPU by role from /proc, with real processes: a busy one and an idle one."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.proc_cpu import CpuByRole, cpu_seconds


def test_cpu_goes_to_the_role_of_the_process_that_used_it():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen(["sleep", "30"])
    try:
        roles = {busy.pid: "busy", idle.pid: "idle"}
        cpu = CpuByRole(lambda pid: roles[pid])
        cpu.start([busy.pid, idle.pid])
        deadline = time.monotonic() + 30
        while cpu.used.get("busy", 0.0) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.1)
            cpu.sample([busy.pid, idle.pid])
        assert cpu.used["busy"] >= 0.3
        assert cpu.used.get("idle", 0.0) < 0.05
        summary = cpu.summary(2.0)
        assert next(iter(summary)) == "busy", "the biggest user comes first"
        assert summary["_machine"]["cores"] >= 1
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert cpu_seconds(busy.pid) is None, "a reaped process has no CPU time"
