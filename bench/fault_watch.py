"""Watching a fault from the outside: when the router stopped using the lost zone, when
capacity was back, and where the CPU went meanwhile (by role, from /proc)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.proc_cpu import CpuByRole
from infra.local.client import ControlClient


@dataclass
class Env:
    """A running local environment, as the bench sees it."""

    workdir: Path
    endpoint: str
    control: ControlClient


class Roles:
    """Which process is which, as the fault goes on (for :class:`CpuByRole`)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.serving: set[int] = set()
        self.role: dict[int, str] = {os.getpid(): "bench load generator"}
        controller = int((env.workdir / "controller.pid").read_text())
        self.role[controller] = "controller"

    def refresh(self, before_fault: bool) -> list[int]:
        view = self.env.control.http.get("/v1/replicas").json()
        router = self.env.control.http.get("/v1/router").json()["pid"]
        if router:
            self.role[router] = "router"
        for pid in view["warm_pool"]["pids"]:
            self.role[pid] = "warm pool (waiting)"
        for replica in view["replicas"]:
            pid = replica["pid"]
            if pid is None:
                continue
            if before_fault:
                self.serving.add(pid)
            self.role[pid] = "serving replicas" if pid in self.serving else "replacement replicas"
        return list(self.role)

    def __call__(self, pid: int) -> str:
        return self.role.get(pid, "other")


async def watch_fault(
    env: Env, zone: str, expected: int, fault_at: list[float], load_done: asyncio.Event
) -> dict[str, Any]:
    """From the fault: detection, capacity back, and CPU by role until the load ends."""
    roles = Roles(env)
    cpu = CpuByRole(roles)
    pids = await asyncio.to_thread(roles.refresh, True)
    while not fault_at:
        await asyncio.sleep(0.01)
    t0 = fault_at[0]
    cpu.start(pids)
    detected = back = None
    cpu_window = 0.0
    while time.monotonic() - t0 < 60 and (back is None or not load_done.is_set()):
        pids = await asyncio.to_thread(roles.refresh, False)
        if not load_done.is_set():
            cpu.sample(pids)
            cpu_window = time.monotonic() - t0
        if back is None:
            view = (
                await asyncio.to_thread(httpx.get, f"{env.endpoint}/v1/upstreams", timeout=2)
            ).json()
            now = time.monotonic() - t0
            in_zone = [
                u for u in view["upstreams"] if u["zone"] == zone and u["state"] == "healthy"
            ]
            if detected is None and not in_zone:
                detected = now
            replicas = await asyncio.to_thread(env.control.replicas, "role=active")
            ready = [r for r in replicas if r["state"] == "ready" and r["zone"] != zone]
            available = view["counts"]["active"]["available"]
            if detected is not None and len(ready) >= expected and available >= expected:
                back = now
        await asyncio.sleep(0.1)
    return {
        "detection_s": _round(detected),
        "capacity_back_s": _round(back),
        "cpu_during_fault": cpu.summary(cpu_window),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
