"""Each replica slot's cgroup (its "node"), the reserved groups, and who may join them.

The mixin holds the isolation side of :class:`infra.local.controller.Controller`: making
the groups at start, sizing a replica's group (its start-up boost while it starts or
loads a new version, its node's budget otherwise), moving the drill's and the control
plane's processes into their reserved groups, and the per-group CPU view of the API.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from contracts.resources import LOCAL_REPLICA, LOCAL_RESERVED, LOCAL_STARTUP_CPU
from infra.local import procs
from infra.local.isolation import (
    WARM_GROUP,
    WARM_WEIGHT_CPU,
    IsolationError,
    NoIsolation,
    group_for_replica,
)
from infra.local.selectors import SelectorError

if TYPE_CHECKING:
    from infra.local.controller import Slot
    from infra.local.isolation import Isolation

log = logging.getLogger("infra.local.controller")


class ReplicaGroups:
    """The controller's cgroups: one per replica slot and the reserved ones."""

    isolation: Isolation
    slots: list[Slot]

    def _make_groups(self) -> None:
        """One cgroup per replica slot (its "node") and the reserved groups. A failure here
        leaves the environment unisolated, said in the log and in ``/v1/isolation``, rather
        than not starting."""
        try:
            for group, cpu in LOCAL_RESERVED.items():
                self.isolation.create(group, cpu)
            # The warm pool imports at the lowest weight, within a starting replica's limit:
            # it takes only CPU nobody else wants, as its nice 19 did unisolated.
            self.isolation.create(WARM_GROUP, LOCAL_STARTUP_CPU, weight_cpu=WARM_WEIGHT_CPU)
            for slot in self.slots:
                self.isolation.create(group_for_replica(slot.id), LOCAL_REPLICA.cpu)
        except IsolationError as exc:
            self.isolation.remove()
            self.isolation = NoIsolation(reason=f"not isolated: {exc}; replicas share every CPU")
        log.info("isolation: %s %s", self.isolation.mechanism, self.isolation.reason)

    def _size_replica(self, slot: Slot, starting: bool) -> None:
        """A starting replica's start-up boost (also while it loads a new version beside
        the served one: a GPU node's spare cores do that work, not the serving one's), and
        its node's budget otherwise."""
        if not self.isolation.isolated:
            return
        cpu = LOCAL_STARTUP_CPU if starting else LOCAL_REPLICA.cpu
        try:
            self.isolation.create(group_for_replica(slot.id), cpu, weight_cpu=LOCAL_REPLICA.cpu)
        except IsolationError as exc:
            log.warning("cannot resize %s: %s", slot.id, exc)

    def join(self, group: str, pid: int) -> dict[str, Any]:
        """Put a process of the drill's (load, probes) or the control plane's into its
        reserved group; replicas' and the router's groups are the controller's alone."""
        if group not in ("drill", "control"):
            raise SelectorError(f"group must be 'drill' or 'control', got {group!r}")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not procs.alive(pid):
            raise SelectorError(f"pid must be a running process, got {pid!r}")
        if self.isolation.isolated:
            try:
                self.isolation.place(group, pid)
            except IsolationError as exc:
                raise SelectorError(f"cannot move pid {pid} into {group}: {exc}") from exc
        return {"group": group, "pid": pid, "isolated": self.isolation.isolated}

    def isolation_view(self) -> dict[str, Any]:
        groups = [*LOCAL_RESERVED, WARM_GROUP, *(group_for_replica(s.id) for s in self.slots)]
        view = self.isolation.describe()
        if self.isolation.isolated:
            view["groups"] = {
                g: {"cpu_s": self.isolation.cpu_seconds(g), **self.isolation.throttled(g)}
                for g in groups
            }
        return view
