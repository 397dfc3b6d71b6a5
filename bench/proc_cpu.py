"""Who used the CPU during a fault: per-process CPU seconds from /proc, summed by role.

On one machine every process shares the same cores, so the question "do replacement replicas
starve the serving ones?" is answered by where the CPU went while the fault lasted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (all its threads), or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuByRole:
    """Call :meth:`sample` now and then; CPU used between samples goes to the role that
    ``classify(pid)`` gives the process at the later sample."""

    def __init__(self, classify: Callable[[int], str]) -> None:
        self.classify = classify
        self.last: dict[int, float] = {}
        self.used: dict[str, float] = {}

    def sample(self, pids: list[int]) -> None:
        for pid in pids:
            now = cpu_seconds(pid)
            if now is None:
                continue
            before = self.last.get(pid)
            self.last[pid] = now
            if before is not None:
                role = self.classify(pid)
                self.used[role] = self.used.get(role, 0.0) + now - before

    def start(self, pids: list[int]) -> None:
        """Take the baseline: CPU used before this is not counted."""
        for pid in pids:
            now = cpu_seconds(pid)
            if now is not None:
                self.last[pid] = now

    def summary(self, seconds: float) -> dict[str, dict[str, float]]:
        """CPU seconds and the share of the machine's cores, by role, over ``seconds``."""
        cores = os.cpu_count() or 1
        return {
            role: {"cpu_s": round(used, 2), "cores": round(used / seconds, 3) if seconds else 0.0}
            for role, used in sorted(self.used.items(), key=lambda kv: -kv[1])
        } | {"_machine": {"cpu_s": round(cores * seconds, 2), "cores": float(cores)}}
