"""Tiny Chaos Toolkit python providers used to produce real journals with ``chaos run``.

Not recdrill code: a stand-in deployment whose behaviour the experiment's arguments pick,
so the gate tests can see what the real CLI writes (and what it exits with).
"""

from __future__ import annotations

import json
import time

from chaoslib.exceptions import ActivityFailed


def availability(value: float = 1.0, duration: float = 0.02) -> float:
    """A steady-state probe reporting a fixed availability after a short measuring window."""
    time.sleep(duration)
    return value


def replicas_ready(ready: bool = True) -> bool:
    return ready


def record(duration: float = 0.3, path: str = "", interval: float = 0.1) -> dict:
    """Stands in for the background recorder: a healthy series, written to ``path``."""
    started = time.time()
    time.sleep(duration)
    steps = int(duration / interval) + 2
    samples = [
        {"t": round(i * interval, 6), "requests": 10, "errors": 0, "degraded": 0, "p99_ms": 20.0}
        for i in range(steps)
    ]
    if path:
        series = {"experiment": "replica-loss", "interval_s": interval, "started": started}
        with open(path, "w") as fh:
            json.dump({**series, "samples": samples}, fh)
    return {"recorded_s": duration}


def kill_replica(zone: str, token: str = "", fail: bool = False) -> dict:
    """The fault: fails with ActivityFailed when asked to, as a real fault can."""
    time.sleep(0.05)
    if fail:
        raise ActivityFailed(f"no replica to kill in zone {zone}")
    return {"killed": f"{zone}-0"}


def restore(zone: str, fail: bool = False) -> str:
    if fail:
        raise ActivityFailed(f"zone {zone} did not come back")
    return f"restored {zone}"
