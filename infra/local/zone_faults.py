"""Zones that die and zones that hang, as a cluster sees them.

A zone that **dies** (``down``) loses its replicas at once: connections are refused and,
after ``reschedule_delay`` (node provisioning, image pull, model fetch, on the RTO's
scale), the replicas start again in the least-loaded zone that is up.

A zone that **hangs** (``hang``) is a partition, as FIS's AZ power interruption cuts a
zone's subnets: its replicas are frozen by the kernel's freezer cgroup, so the kernel
still holds their sockets but nothing answers; a connection hangs until the caller's
timeout, none is refused. Kubernetes sees the nodes stop reporting and evicts their pods
only after ``node-monitor-grace-period`` + the ``unreachable`` toleration (40 s + 300 s);
``eviction_delay`` is that, scaled. Until then the pods stay where they are and nothing
replaces them; after it they are replaced elsewhere like a dead zone's.

The mixin holds the zone state; :class:`infra.local.controller.Controller` uses it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from typing import TYPE_CHECKING, Any

from infra.local import procs
from infra.local.isolation import IsolationError, group_for_replica
from infra.local.selectors import SelectorError

if TYPE_CHECKING:
    from infra.local.config import ControllerConfig
    from infra.local.controller import Slot
    from infra.local.isolation import Isolation

log = logging.getLogger("infra.local.controller")


class ZoneFaults:
    """Zone state (``up``, ``down``, ``hung``) and the faults that change it."""

    config: ControllerConfig
    zones: dict[str, str]
    zone_down_since: dict[str, float]
    slots: list[Slot]
    isolation: Isolation
    lock: asyncio.Lock
    stopping: bool

    def _check_zone(self, zone: str) -> None:
        if zone not in self.zones:
            raise SelectorError(f"unknown zone {zone!r}; zones are {sorted(self.zones)}")

    def zone_down(self, zone: str) -> list[str]:
        self._check_zone(zone)
        self.zones[zone] = "down"
        self.zone_down_since[zone] = time.monotonic()
        killed = []
        for slot in self.slots:
            if slot.zone == zone:
                if slot.proc is not None:
                    killed.append(slot.id)
                self.kill_slot(slot, "pending")
        return killed

    def zone_hang(self, zone: str) -> list[str]:
        """Partition the zone: freeze every replica in it (SIGSTOP where no freezer)."""
        self._check_zone(zone)
        if self.zones[zone] != "up":
            raise SelectorError(f"zone {zone!r} is {self.zones[zone]}, not up")
        self.zones[zone] = "hung"
        self.zone_down_since[zone] = time.monotonic()
        frozen = []
        for slot in self.slots:
            if slot.zone != zone or slot.proc is None:
                continue
            if not self._freeze(slot, True):
                procs.signal_group(slot.proc.pid, signal.SIGSTOP)
            slot.state, slot.ready_since = "unreachable", None
            frozen.append(slot.id)
        log.warning("zone %s hung: %s frozen", zone, ", ".join(frozen) or "nothing")
        return frozen

    def _freeze(self, slot: Slot, frozen: bool) -> bool:
        if not self.isolation.isolated:
            return False
        try:
            return self.isolation.freeze(group_for_replica(slot.id), frozen)
        except IsolationError as exc:
            log.warning("cannot %s %s: %s", "freeze" if frozen else "thaw", slot.id, exc)
            return False

    def thaw_slot(self, slot: Slot) -> None:
        """Undo a hang on one slot (a frozen process cannot even be killed until thawed)."""
        if slot.state != "unreachable" or slot.proc is None:
            return
        if not self._freeze(slot, False):
            procs.signal_group(slot.proc.pid, signal.SIGCONT)
        slot.state = "unready"

    def reconcile_hung(self, slot: Slot, now: float) -> bool:
        """A slot in a hung zone: left alone until the eviction delay, then evicted and
        replaced as a dead zone's are. True while the slot is to be left alone."""
        if self.zones.get(slot.zone) != "hung":
            return False
        since = self.zone_down_since.get(slot.zone, now)
        if now - since < self.config.eviction_delay:
            if slot.proc is None:
                slot.state = "pending"
            return True
        zone = slot.zone
        log.warning("zone %s unreachable for %.0f s: evicting its replicas", zone, now - since)
        self.zones[zone] = "down"
        self.zone_down_since[zone] = now
        for other in self.slots:
            if other.zone == zone:
                self.kill_slot(other, "pending")
        return False

    async def zone_up(self, zone: str) -> list[str]:
        """Bring a zone back (a hung one thaws) and move its own replicas home, one at a time."""
        self._check_zone(zone)
        if self.zones[zone] == "hung":
            for slot in self.slots:
                if slot.zone == zone:
                    self.thaw_slot(slot)
        self.zones[zone] = "up"
        self.zone_down_since.pop(zone, None)
        movers = [s for s in self.slots if s.home_zone == zone and s.zone != zone]
        if movers:
            asyncio.get_running_loop().create_task(self._move_home(movers))
        return [s.id for s in movers]

    async def _move_home(self, slots: list[Slot]) -> None:
        async with self.lock:
            for slot in slots:
                if self.zones[slot.home_zone] != "up" or slot.zone == slot.home_zone:
                    continue
                await self._replace(slot, zone=slot.home_zone)

    def _least_loaded_zone(self, role: str) -> str | None:
        """The up zone with the fewest replicas of this role (ties: fewest of any role)."""
        up = [z for z, s in self.zones.items() if s == "up"]
        if not up:
            return None

        def load(zone: str) -> tuple[int, int]:
            here = [s for s in self.slots if s.zone == zone]
            return sum(1 for s in here if s.role == role), len(here)

        return min(up, key=load)

    def zones_view(self) -> dict[str, Any]:
        return dict(self.zones)
