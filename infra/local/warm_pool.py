"""The controller's pool of warm replica processes (see ``infra.local.warm``).

A cluster starts a replacement pod on another node, so its start-up costs the serving pods
nothing. Here every process shares the same cores, so the pool does the expensive part (the
imports) ahead of time and at the lowest CPU priority, where it only takes idle CPU. Taking
a process from the pool hands it its order and gives it back a normal priority; the pool
then refills itself, again at the lowest priority.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from infra.local import procs

log = logging.getLogger("infra.local.warm_pool")
LOWEST_NICE = 19
READY = b"ready\n"  # what a member writes on stdout once imported


class WarmPool:
    """Up to ``size`` waiting ``infra.local.warm`` processes, children of the caller's thread."""

    def __init__(
        self,
        size: int,
        logs: Path,
        env: Mapping[str, str],
        nice: int,
        cgroup_procs: Sequence[str] = (),
    ) -> None:
        self.size = size
        self.cgroup_procs = tuple(cgroup_procs)
        self.logs = logs
        self.env = dict(env)
        self.nice = nice
        self.waiting: list[subprocess.Popen] = []
        self.warm: set[int] = set()
        self.spawned = 0
        self.taken = 0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.waiting]

    @property
    def ready(self) -> int:
        """Members that have finished their imports."""
        self._collect_ready()
        return sum(p.pid in self.warm for p in self.waiting)

    def _collect_ready(self) -> None:
        for proc in self.waiting:
            if proc.pid in self.warm or proc.stdout is None:
                continue
            if select.select([proc.stdout], [], [], 0)[0] and proc.stdout.readline() == READY:
                self.warm.add(proc.pid)

    def fill(self) -> None:
        """Forget exited members, then start new ones until the pool is full."""
        for proc in [p for p in self.waiting if p.poll() is not None]:
            log.warning("warm process %s exited with %s", proc.pid, proc.returncode)
            self.waiting.remove(proc)
            _close_pipes(proc)
        while len(self.waiting) < self.size:
            proc = procs.spawn(
                procs.python_argv("infra.local.warm"),
                self.logs / f"warm-{self.spawned}.log",
                self.env,
                nice=self.nice,
                pipes=True,
                cgroup_procs=self.cgroup_procs,
            )
            self.spawned += 1
            self.waiting.append(proc)
            log.info("warm process %s started at nice %d", proc.pid, self.nice)

    def take(
        self,
        argv: Sequence[str],
        log_path: Path,
        nice: int,
        place: Callable[[int], None] | None = None,
    ) -> subprocess.Popen | None:
        """Hand a live member its order (``serving.replica`` ``argv``) and CPU
        priority ``nice``; None when the pool is empty, so the caller starts one cold. A warm
        member goes first; one still importing is better than none (it has a head start).
        ``place`` moves it into the slot's cgroup (its "node") before it gets the order."""
        self._collect_ready()
        self.waiting.sort(key=lambda p: p.pid not in self.warm)  # stable: oldest first
        while self.waiting:
            proc = self.waiting.pop(0)
            self.warm.discard(proc.pid)
            if proc.poll() is not None or proc.stdin is None:
                _close_pipes(proc)
                continue
            try:
                if place is not None:
                    place(proc.pid)
                order = {"argv": list(argv), "log": str(log_path)}
                proc.stdin.write(json.dumps(order).encode() + b"\n")
            except OSError:  # it died between poll() and write(): try the next one
                _close_pipes(proc)
                procs.signal_group(proc.pid, signal.SIGKILL)
                continue
            _close_pipes(proc)
            if nice != self.nice:
                procs.renice(proc.pid, nice)
            self.taken += 1
            return proc
        return None

    def close(self) -> list[subprocess.Popen]:
        """Close every member's stdin (they exit 0) and return them for the caller to reap."""
        members, self.waiting = self.waiting, []
        self.warm.clear()
        for proc in members:
            _close_pipes(proc)
        return members

    def describe(self) -> dict[str, object]:
        return {
            "size": self.size,
            "ready": self.ready,
            "nice": self.nice,
            "pids": self.pids,
            "taken": self.taken,
        }


def _close_pipes(proc: subprocess.Popen) -> None:
    """Close our ends of the member's pipes (a closed stdin tells a waiting one to exit)."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
