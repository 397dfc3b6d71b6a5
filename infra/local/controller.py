"""The supervisor: keeps every replica slot and the router running, like a tiny kubelet +
ReplicaSet + scheduler. One asyncio loop; children are spawned from its (main) thread so
their PDEATHSIG stays tied to the controller's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from infra.local import commands, procs
from infra.local.config import ControllerConfig
from infra.local.isolation import (
    WARM_GROUP,
    Isolation,
    NoIsolation,
    group_for_replica,
)
from infra.local.replica_groups import ReplicaGroups
from infra.local.selectors import SelectorError, matches, parse_selector, pick
from infra.local.warm_pool import LOWEST_NICE, WarmPool
from infra.local.zone_faults import ZoneFaults

log = logging.getLogger("infra.local.controller")
RUNNING_STATES = ("starting", "ready", "unready")


@dataclass
class Slot:
    """One replica identity (``local-a-0``, ``standby-0``); its process comes and goes."""

    id: str
    role: str
    home_zone: str
    zone: str
    state: str = "backoff"
    proc: subprocess.Popen | None = None
    port: int | None = None
    restarts: int = 0
    crash_streak: int = 0
    next_start: float = 0.0
    ready_since: float | None = None
    deleted: bool = False
    held: bool = False
    nice: int = 0
    loading: bool = False  # loading a new version: the start-up boost again
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    @property
    def labels(self) -> dict[str, str]:
        return {
            "app": "recdrill-replica",
            "role": self.role,
            "zone": self.zone,
            "replica": self.id,
            "home-zone": self.home_zone,
            "topology.kubernetes.io/zone": self.zone,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "zone": self.zone,
            "role": self.role,
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "state": self.state,
            "restarts": self.restarts,
            "labels": self.labels,
        }


class Controller(ZoneFaults, ReplicaGroups):
    """The local environment's control plane. ``isolation`` (the daemon opens the best
    the machine allows) holds every replica in its own cgroup; without it, none is."""

    def __init__(self, config: ControllerConfig, isolation: Isolation | None = None) -> None:
        self.config = config
        self.workdir = config.path.resolve()
        self.zones: dict[str, str] = {z: "up" for z in config.zone_list}
        self.zone_down_since: dict[str, float] = {}
        self.slots: list[Slot] = []
        for zone in config.zone_list:
            for i in range(config.replicas_per_zone):
                self.slots.append(Slot(f"{zone}-{i}", "active", zone, zone))
        for i in range(config.standby):
            zone = config.zone_list[(len(config.zone_list) - 1 - i) % len(config.zone_list)]
            self.slots.append(Slot(f"standby-{i}", "standby", zone, zone))
        self.router: subprocess.Popen | None = None
        self.router_restarts = 0
        self.router_next_start = 0.0
        self.stopping = False
        self.lock = asyncio.Lock()
        self.http: aiohttp.ClientSession | None = None
        self.env = commands.child_env(config, self.workdir)
        self.isolation = isolation or NoIsolation(reason="not isolated: no isolation given")
        self._make_groups()
        self.pool = WarmPool(
            config.warm_pool_size,
            self.workdir / "logs",
            self.env,
            nice=LOWEST_NICE if procs.can_restore_priority() else 0,
            cgroup_procs=self.isolation.procs_files(WARM_GROUP),
        )
        self.pool_armed = False

    # ---- process lifecycle -----------------------------------------------------------
    def start_slot(self, slot: Slot) -> None:
        """Start the slot's replica: a process from the warm pool when one waits, else cold.
        With ``startup_nice`` > 0, replacements run at a low CPU priority until ready (on one
        machine their start-up competes with the serving replicas; on a cluster they get
        other nodes). The first bring-up is never niced."""
        slot.port = procs.free_port()
        serving = any(s.state == "ready" for s in self.slots)
        slot.nice = self.config.startup_nice if serving else 0
        args = commands.replica_args(self.config, self.workdir, slot.id, slot.zone, slot.port)
        log_path = self.workdir / "logs" / f"{slot.id}.log"
        group = group_for_replica(slot.id)
        self._size_replica(slot, starting=True)
        place = (lambda pid: self.isolation.place(group, pid)) if self.isolation.isolated else None
        slot.proc = self.pool.take(args, log_path, slot.nice, place=place)
        warm = slot.proc is not None
        if slot.proc is None:
            slot.proc = procs.spawn(
                procs.python_argv("serving.replica", *args),
                log_path,
                self.env,
                nice=slot.nice,
                cgroup_procs=self.isolation.procs_files(group),
            )
        slot.state, slot.ready_since, slot.deleted = "starting", None, False
        log.info(
            "started %s in %s pid %s port %s (%s)",
            slot.id, slot.zone, slot.pid, slot.port, "warm" if warm else "cold",
        )  # fmt: skip

    def start_router(self) -> None:
        self.router = procs.spawn(
            commands.router_command(self.config),
            self.workdir / "logs" / "router.log",
            self.env,
            cgroup_procs=self.isolation.procs_files("router"),
        )
        log.info("started router pid %s port %s", self.router.pid, self.config.router_port)

    def kill_slot(self, slot: Slot, state: str) -> None:
        """SIGKILL the slot's process group at once and forget the process."""
        self.thaw_slot(slot)
        if slot.proc is not None:
            procs.signal_group(slot.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                slot.proc.wait(timeout=2)
        slot.proc, slot.port, slot.state, slot.ready_since = None, None, state, None

    async def stop_slot(self, slot: Slot) -> None:
        """SIGTERM (replica drains), SIGKILL after the grace; the slot is left empty."""
        proc = slot.proc
        if proc is None:
            return
        slot.state = "terminating"
        procs.signal_group(proc.pid, signal.SIGCONT)
        procs.signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_grace
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.kill_slot(slot, "backoff")

    def _backoff(self, streak: int) -> float:
        if streak <= 1:
            return 0.0
        return min(self.config.backoff_base * 2 ** (streak - 2), self.config.backoff_max)

    # ---- reconciliation ----------------------------------------------------------------
    def reconcile(self, now: float) -> None:
        """One pass: notice exits, restart after back-off, reschedule out of down zones."""
        for slot in self.slots:
            if slot.held or self.reconcile_hung(slot, now):
                continue
            if slot.proc is not None and slot.proc.poll() is not None:
                code = slot.proc.returncode
                slot.proc, slot.port, slot.ready_since = None, None, None
                if slot.deleted:  # a deleted pod: replaced on its node after the restart delay
                    slot.next_start = now + self.config.restart_delay
                else:
                    slot.restarts += 1
                    slot.crash_streak += 1
                    slot.next_start = now + self._backoff(slot.crash_streak)
                    log.warning("%s exited with %s; restart #%d", slot.id, code, slot.restarts)
                slot.state = "backoff"
            if slot.proc is not None:
                stopped = procs.process_state(slot.proc.pid) == "T"
                if stopped:
                    slot.state = "stopped"
                elif slot.state == "stopped":
                    slot.state = "unready"
                if (
                    slot.state == "ready"
                    and slot.ready_since is not None
                    and now - slot.ready_since >= self.config.backoff_reset
                ):
                    slot.crash_streak = 0
                continue
            if self.zones[slot.zone] == "down":
                slot.state = "pending"
                since = self.zone_down_since.get(slot.zone, now)
                target = self._least_loaded_zone(slot.role)
                if target is not None and now - since >= self.config.reschedule_delay:
                    log.info("rescheduling %s from %s to %s", slot.id, slot.zone, target)
                    slot.zone, slot.next_start = target, now
                else:
                    continue
            if now >= slot.next_start and not self.stopping:
                self.start_slot(slot)
        if self.router is not None and self.router.poll() is not None and not self.stopping:
            self.router_restarts += 1
            self.router = None
            self.router_next_start = now + self._backoff(self.router_restarts)
        if self.router is None and not self.stopping and now >= self.router_next_start:
            self.start_router()
        self.pool_armed = self.pool_armed or all(s.state == "ready" for s in self.slots)
        if self.pool_armed and not self.stopping:
            self.pool.fill()  # only after the first bring-up, which it would otherwise slow

    async def health_pass(self) -> None:
        """Probe every running replica's /readyz concurrently."""
        assert self.http is not None
        slots = [s for s in self.slots if s.proc is not None and s.state in RUNNING_STATES]
        results = await asyncio.gather(*(self._probe(s) for s in slots))
        now = time.monotonic()
        for slot, (ok, loading) in zip(slots, results, strict=True):
            if slot.proc is None or slot.state not in RUNNING_STATES:
                continue
            if ok:
                if slot.state == "starting" or loading != slot.loading:
                    slot.loading = loading
                    self._size_replica(slot, starting=loading)
                slot.state = "ready"
                slot.ready_since = slot.ready_since or now
                if slot.nice and procs.renice(slot.proc.pid, 0):
                    slot.nice = 0
            elif slot.state == "ready":
                slot.state, slot.ready_since = "unready", None

    async def _probe(self, slot: Slot) -> tuple[bool, bool]:
        """Ready, and loading a new version beside the served one."""
        assert self.http is not None
        try:
            async with self.http.get(
                f"{slot.url}/readyz", timeout=aiohttp.ClientTimeout(total=0.5)
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    return False, False
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False, False
        try:
            return True, bool(json.loads(body).get("loading"))
        except (ValueError, AttributeError):
            return True, False

    async def run_loops(self) -> None:
        self.http = aiohttp.ClientSession()
        try:
            next_probe = 0.0
            while not self.stopping:
                now = time.monotonic()
                self.reconcile(now)
                if now >= next_probe:
                    next_probe = now + self.config.health_interval
                    await self.health_pass()
                await asyncio.sleep(0.05)
        finally:
            await self.http.close()

    # ---- operations behind the control API ---------------------------------------------
    def select(self, selector: str | None) -> list[Slot]:
        wanted = parse_selector(selector)
        return [s for s in self.slots if matches(wanted, s.labels)]

    def signal_replicas(
        self, selector: str | None, sig_name: str, count: int | None, percent: float | None
    ) -> list[dict[str, Any]]:
        if sig_name not in procs.SIGNALS:
            raise SelectorError(f"signal must be one of {sorted(procs.SIGNALS)}, got {sig_name!r}")
        candidates = [s for s in self.select(selector) if s.proc is not None]
        affected = []
        for slot in pick(candidates, count, percent):
            pid = slot.pid
            assert pid is not None
            sig = procs.SIGNALS[sig_name]
            if sig_name in ("TERM", "KILL"):
                slot.deleted = sig_name == "TERM"
                if sig_name == "KILL":  # a pod deleted with grace 0: its replacement waits too
                    slot.next_start = time.monotonic() + self.config.restart_delay
            procs.signal_group(pid, sig)
            if sig_name == "STOP":
                slot.state = "stopped"
            elif sig_name == "CONT" and slot.state == "stopped":
                slot.state = "unready"
            affected.append({"id": slot.id, "pid": pid, "zone": slot.zone, "signal": sig_name})
        return affected

    async def rolling_restart(self, selector: str | None) -> list[str]:
        slots = self.select(selector)
        async with self.lock:
            for slot in slots:
                await self._replace(slot, zone=slot.zone)
        return [s.id for s in slots]

    async def _replace(self, slot: Slot, zone: str, ready_timeout: float = 90.0) -> None:
        slot.held = True
        try:
            await self.stop_slot(slot)
            slot.zone = zone
            if self.zones[zone] == "up" and not self.stopping:
                self.start_slot(slot)
        finally:
            slot.held = False
        deadline = time.monotonic() + ready_timeout
        while slot.state != "ready" and time.monotonic() < deadline and not self.stopping:
            await asyncio.sleep(0.1)

    def replicas_view(self, selector: str | None = None) -> dict[str, Any]:
        return {
            "replicas": [s.describe() for s in self.select(selector)],
            "zones": self.zones,
            "warm_pool": self.pool.describe(),
        }

    def router_view(self) -> dict[str, Any]:
        return {
            "pid": self.router.pid if self.router else None,
            "port": self.config.router_port,
            "url": f"http://127.0.0.1:{self.config.router_port}",
            "restarts": self.router_restarts,
            "labels": {"app": "recdrill-router"},
        }

    # ---- shutdown --------------------------------------------------------------------
    def shutdown(self) -> None:
        """TERM every child group, wait the grace, KILL whatever is left."""
        self.stopping = True
        for slot in self.slots:
            self.thaw_slot(slot)
        procs_left = [s.proc for s in self.slots if s.proc is not None] + self.pool.close()
        if self.router is not None:
            procs_left.append(self.router)
        for proc in procs_left:
            procs.signal_group(proc.pid, signal.SIGCONT)
            procs.signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_grace
        for proc in procs_left:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs_left:
            procs.signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        for slot in self.slots:
            slot.proc, slot.state = None, "terminating"
        self.router = None
        self.isolation.remove()
