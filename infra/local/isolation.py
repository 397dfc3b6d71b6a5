"""CPU isolation by the kernel: one cgroup per replica ("node"), and reserved groups.

Kubernetes enforces ``resources.limits.cpu`` with a CFS quota on the pod's cgroup; this
module does the same for the local environment, from ``contracts.resources``:

- ``replica-<id>``: the replica's quota (``LOCAL_REPLICA``), its own "node";
- ``router``, ``drill`` (load generator, recorder, probes, Prometheus), ``control`` (the
  controller, warm pool, training and the promotion gate's evaluation): reserved CPU.

Every group sits under one parent per environment, ``recdrill-<hash of the workdir>``, with
the highest weight the kernel allows, so a busy process outside it (a CPU hog at the
root) cannot take a group's reservation away. Both layouts are supported:

- cgroup v2 (``cpu.max``, ``cpu.weight``, ``cgroup.freeze``) on a unified mount;
- cgroup v1 (``cpu.cfs_quota_us``/``cpu.cfs_period_us``, ``cpu.shares``, and the
  ``freezer`` controller for a zone that hangs).

Where neither can be written (no root, a read-only mount), :func:`open_isolation` returns
``NoIsolation`` with a one-line reason, which ``up`` prints and the journals carry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.resources import CFS_PERIOD_US, LOCAL_REPLICA, LOCAL_RESERVED

__all__ = [
    "WARM_GROUP",
    "WARM_WEIGHT_CPU",
    "CgroupV1",
    "CgroupV2",
    "Isolation",
    "IsolationError",
    "NoIsolation",
    "group_for_replica",
    "open_isolation",
    "remove_groups",
    "thaw_all",
]

WARM_GROUP = "warm"  # the warm pool's members, until one is taken into a replica's group
WARM_WEIGHT_CPU = 0.002  # the kernel's least weight: v1 shares 2, v2 weight 1
MODE_ENV = "RECDRILL_ISOLATION"  # "off" turns isolation off (the unisolated comparison)
V1_SHARES_MAX = 262_144
V2_WEIGHT_MAX = 10_000


class IsolationError(OSError):
    """A group could not be made or a process could not be placed; names which."""


def group_for_replica(replica_id: str) -> str:
    return f"replica-{replica_id}"


def parent_name(workdir: Path) -> str:
    digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:10]
    return f"recdrill-{digest}"


@dataclass
class Isolation:
    """The interface every mechanism has; ``NoIsolation`` does nothing and says why."""

    mechanism: str = "none"
    reason: str = ""

    @property
    def isolated(self) -> bool:
        return self.mechanism != "none"

    def create(
        self, group: str, cpu: float, weight_cpu: float | None = None
    ) -> None:  # pragma: no cover - interface
        """Make ``group`` (idempotent; again to resize) limited to ``cpu`` cores, weighted
        against the other groups as ``weight_cpu`` cores (``cpu`` by default), as a pod's
        limit and request are."""

    def place(self, group: str, pid: int) -> None:  # pragma: no cover - interface
        """Move ``pid`` (every thread of it) into ``group``."""

    def procs_files(self, group: str) -> list[str]:
        """The ``cgroup.procs`` files a new child writes itself into before it runs."""
        return []

    def freeze(self, group: str, frozen: bool) -> bool:
        """Freeze or thaw ``group``; False where this mechanism cannot."""
        return False

    def cpu_seconds(self, group: str) -> float | None:
        """CPU time the group has used, where the kernel counts it."""
        return None

    def throttled(self, group: str) -> dict[str, float]:
        """How often and how long the group was held to its quota."""
        return {}

    def remove(self) -> None:
        """Remove every group of this environment (processes must be gone)."""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mechanism": self.mechanism, "isolated": self.isolated}
        if self.reason:
            out["reason"] = self.reason
        if self.isolated:
            out["period_us"] = CFS_PERIOD_US
            out["replica_cpu"] = LOCAL_REPLICA.cpu
            out["reserved_cpu"] = dict(LOCAL_RESERVED)
            out["host_cpus"] = os.cpu_count()
        return out


class NoIsolation(Isolation):
    pass


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise IsolationError(f"cannot write {value!r} to {path}: {exc.strerror or exc}") from exc


def _rmdir_tree(root: Path, escape: Path) -> None:
    """Remove a cgroup directory tree, leaves first (cgroupfs refuses a group with
    processes in it: any still there, such as a drill process that joined, move to the
    mount's root group ``escape`` first)."""
    if not root.is_dir():
        return
    dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for group in [*dirs, root]:
        with contextlib.suppress(OSError):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    escape.write_text(pid)
    for child in dirs:
        with contextlib.suppress(OSError):
            child.rmdir()
    for _ in range(20):
        try:
            root.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)


class CgroupV2(Isolation):
    """cgroup v2: ``cpu.max = "<quota> <period>"``, ``cpu.weight``, ``cgroup.freeze``."""

    def __init__(self, mount: Path, parent: str) -> None:
        super().__init__("cgroup-v2")
        self.root = mount / parent
        self.root.mkdir(exist_ok=True)
        _write(self.root / "cpu.weight", str(V2_WEIGHT_MAX))
        _write(self.root / "cgroup.subtree_control", "+cpu")

    def create(self, group: str, cpu: float, weight_cpu: float | None = None) -> None:
        path = self.root / group
        path.mkdir(exist_ok=True)
        quota = max(1000, round(cpu * CFS_PERIOD_US))
        weight = round((weight_cpu or cpu) * 100)
        _write(path / "cpu.max", f"{quota} {CFS_PERIOD_US}")
        _write(path / "cpu.weight", str(max(1, min(V2_WEIGHT_MAX, weight))))

    def place(self, group: str, pid: int) -> None:
        _write(self.root / group / "cgroup.procs", str(pid))

    def procs_files(self, group: str) -> list[str]:
        return [str(self.root / group / "cgroup.procs")]

    def freeze(self, group: str, frozen: bool) -> bool:
        _write(self.root / group / "cgroup.freeze", "1" if frozen else "0")
        return True

    def cpu_seconds(self, group: str) -> float | None:
        stat = _keyed(self.root / group / "cpu.stat")
        return stat["usage_usec"] / 1e6 if "usage_usec" in stat else None

    def throttled(self, group: str) -> dict[str, float]:
        stat = _keyed(self.root / group / "cpu.stat")
        if "nr_throttled" not in stat:
            return {}
        return {"periods": stat["nr_throttled"], "seconds": stat.get("throttled_usec", 0) / 1e6}

    def remove(self) -> None:
        _rmdir_tree(self.root, self.root.parent / "cgroup.procs")


class CgroupV1(Isolation):
    """cgroup v1: the ``cpu`` controller's CFS quota and shares, the ``freezer`` controller
    for hangs (each v1 controller is its own hierarchy, so a process joins both)."""

    def __init__(
        self,
        cpu_mount: Path,
        freezer_mount: Path | None,
        parent: str,
        cpuacct_mount: Path | None = None,
    ) -> None:
        super().__init__("cgroup-v1")
        self.cpu_root = cpu_mount / parent
        self.freezer_root = freezer_mount / parent if freezer_mount else None
        # cpuacct counts CPU time; it is co-mounted with cpu on most distributions and a
        # hierarchy of its own on others.
        if (cpu_mount / "cpuacct.usage").exists():
            self.acct_root: Path | None = self.cpu_root
        else:
            self.acct_root = cpuacct_mount / parent if cpuacct_mount else None
        for root in (self.cpu_root, self.freezer_root, self.acct_root):
            if root is not None:
                root.mkdir(exist_ok=True)
        _write(self.cpu_root / "cpu.shares", str(V1_SHARES_MAX))

    def _extra_roots(self) -> list[Path]:
        """The hierarchies besides ``cpu`` that a process joins (each v1 controller has its
        own tree)."""
        return [r for r in (self.freezer_root, self.acct_root) if r and r != self.cpu_root]

    def create(self, group: str, cpu: float, weight_cpu: float | None = None) -> None:
        path = self.cpu_root / group
        path.mkdir(exist_ok=True)
        _write(path / "cpu.cfs_period_us", str(CFS_PERIOD_US))
        _write(path / "cpu.cfs_quota_us", str(max(1000, round(cpu * CFS_PERIOD_US))))
        _write(path / "cpu.shares", str(max(2, round((weight_cpu or cpu) * 1024))))
        for root in self._extra_roots():
            (root / group).mkdir(exist_ok=True)

    def place(self, group: str, pid: int) -> None:
        for procs in self.procs_files(group):
            _write(Path(procs), str(pid))

    def procs_files(self, group: str) -> list[str]:
        roots = [self.cpu_root, *self._extra_roots()]
        return [str(root / group / "cgroup.procs") for root in roots]

    def freeze(self, group: str, frozen: bool) -> bool:
        if self.freezer_root is None:
            return False
        _write(self.freezer_root / group / "freezer.state", "FROZEN" if frozen else "THAWED")
        return True

    def cpu_seconds(self, group: str) -> float | None:
        stat = _keyed(self.cpu_root / group / "cpu.stat")
        if "usage_usec" in stat:  # newer kernels
            return stat["usage_usec"] / 1e6
        if self.acct_root is None:
            return None
        try:
            return int((self.acct_root / group / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def throttled(self, group: str) -> dict[str, float]:
        stat = _keyed(self.cpu_root / group / "cpu.stat")
        if "nr_throttled" not in stat:
            return {}
        return {"periods": stat["nr_throttled"], "seconds": stat.get("throttled_time", 0) / 1e9}

    def remove(self) -> None:
        _rmdir_tree(self.cpu_root, self.cpu_root.parent / "cgroup.procs")
        if self.freezer_root is not None:
            for group in self.freezer_root.iterdir():
                if group.is_dir():
                    with contextlib.suppress(OSError):
                        (group / "freezer.state").write_text("THAWED")
            _rmdir_tree(self.freezer_root, self.freezer_root.parent / "cgroup.procs")
        if self.acct_root is not None and self.acct_root != self.cpu_root:
            _rmdir_tree(self.acct_root, self.acct_root.parent / "cgroup.procs")


def _keyed(path: Path) -> dict[str, float]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = float(value)
    return out


def _v2_mount(base: Path) -> Path | None:
    """The unified mount, when the ``cpu`` controller is on it (not bound to v1)."""
    controllers = base / "cgroup.controllers"
    with contextlib.suppress(OSError):
        if "cpu" in controllers.read_text().split():
            return base
    return None


def open_isolation(workdir: Path, base: Path = Path("/sys/fs/cgroup")) -> Isolation:
    """The best mechanism this machine allows for the environment in ``workdir``."""
    if os.environ.get(MODE_ENV, "").lower() in ("off", "none", "0"):
        return NoIsolation(reason=f"turned off ({MODE_ENV}=off): replicas share every CPU")
    parent = parent_name(workdir)
    errors = []
    v2 = _v2_mount(base)
    if v2 is not None:
        try:
            return CgroupV2(v2, parent)
        except (OSError, IsolationError) as exc:
            errors.append(f"cgroup v2 at {v2}: {exc}")
    cpu_v1 = base / "cpu"
    if (cpu_v1 / "cpu.cfs_quota_us").exists():
        freezer, acct = base / "freezer", base / "cpuacct"
        try:
            return CgroupV1(
                cpu_v1,
                freezer if (freezer / "tasks").exists() else None,
                parent,
                acct if (acct / "cpuacct.usage").exists() else None,
            )
        except (OSError, IsolationError) as exc:
            errors.append(f"cgroup v1 at {cpu_v1}: {exc}")
    why = "; ".join(errors) or f"no writable cgroup cpu controller under {base}"
    return NoIsolation(reason=f"not isolated: {why}; replicas share every CPU")


def _existing_roots(workdir: Path, base: Path) -> list[Path]:
    name = parent_name(workdir)
    candidates = [base / name, *(base / c / name for c in ("cpu", "cpuacct", "freezer"))]
    return [p for p in candidates if p.is_dir()]


def thaw_all(workdir: Path, base: Path = Path("/sys/fs/cgroup")) -> None:
    """Thaw every group of the environment in ``workdir`` (a frozen process cannot die)."""
    for root in _existing_roots(workdir, base):
        for group in [root, *(p for p in root.rglob("*") if p.is_dir())]:
            for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if (group / name).exists():
                    with contextlib.suppress(OSError):
                        (group / name).write_text(value)


def remove_groups(workdir: Path, base: Path = Path("/sys/fs/cgroup")) -> None:
    """Remove what a controller that died without its shutdown left of its groups."""
    for root in _existing_roots(workdir, base):
        _rmdir_tree(root, root.parent / "cgroup.procs")
