"""Representative drill load: measure what the router serves within the p99 budget, then
run the experiments' traffic at a set fraction of it.

A drill at a trickle of traffic proves little (DESIGN.md contract 4), so before the
catalog the drill steps closed-loop concurrency up (1, 2, 4, …) through the router, a few
seconds a step, and keeps the highest throughput whose p99 stayed within the SLO's
budget with no failed request. The experiments then get ``fraction`` of that, split
between the steady-state windows and the background recorder as the catalog's defaults
split it, and every journal records the capacity, the fraction and the rates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from experiments.probes.load import closed_loop, summarise

__all__ = [
    "Capacity",
    "CapacityError",
    "LoadStep",
    "closed_loop_step",
    "load_configuration",
    "search_capacity",
]

# The catalog's default probes send 35 rps in SLO windows and 15 rps to the recorder:
# the same 70/30 split, scaled to the measured capacity.
SSH_SHARE = 0.7
PLATEAU_GAIN = 1.05  # a step that adds less than 5% throughput means the router is full
STALLS_TO_STOP = 2


class CapacityError(RuntimeError):
    """No load step stayed within the p99 budget (the step's figures are in the message)."""


@dataclass(frozen=True)
class LoadStep:
    """One closed-loop step's figures."""

    concurrency: int
    rps: float
    p99_ms: float | None
    requests: int
    failed: int

    def within(self, p99_budget_ms: float) -> bool:
        return self.failed == 0 and self.p99_ms is not None and self.p99_ms <= p99_budget_ms

    def describe(self) -> str:
        p99 = "no answer" if self.p99_ms is None else f"p99 {self.p99_ms:.0f} ms"
        return (
            f"{self.concurrency:>3} clients: {self.rps:7.1f} rps, {p99}, "
            f"{self.failed}/{self.requests} failed"
        )


@dataclass(frozen=True)
class Capacity:
    """The highest throughput within budget, and every step that led to it."""

    rps: float
    concurrency: int
    p99_budget_ms: float
    steps: tuple[LoadStep, ...]


def search_capacity(
    measure: Callable[[int], LoadStep],
    p99_budget_ms: float,
    *,
    max_concurrency: int = 64,
    progress: Callable[[str], None] = print,
) -> Capacity:
    """Double the concurrency until p99 leaves the budget, a request fails, throughput
    stops growing or ``max_concurrency`` is passed; the best step within budget wins.

    "Stops growing" is two steps in a row under 5% above the best: on a shared machine
    one step can dip by chance, and stopping at it would understate the capacity.
    """
    steps: list[LoadStep] = []
    best: LoadStep | None = None
    stalls = 0
    concurrency = 1
    while concurrency <= max_concurrency and stalls < STALLS_TO_STOP:
        step = measure(concurrency)
        steps.append(step)
        ok = step.within(p99_budget_ms)
        progress(f"capacity: {step.describe()}{'' if ok else '  (over budget)'}")
        if not ok:
            break
        stalls = stalls + 1 if best is not None and step.rps < best.rps * PLATEAU_GAIN else 0
        if best is None or step.rps > best.rps:
            best = step
        concurrency *= 2
    if best is None:
        raise CapacityError(
            f"no load step stayed within the {p99_budget_ms:g} ms p99 budget without "
            f"failures: {steps[0].describe()}"
        )
    return Capacity(best.rps, best.concurrency, p99_budget_ms, tuple(steps))


def closed_loop_step(
    endpoint: str, step_s: float = 3.0, timeout_s: float = 2.0
) -> Callable[[int], LoadStep]:
    """A ``measure`` for :func:`search_capacity`: ``step_s`` of closed-loop load through
    ``endpoint`` (the router) at the given concurrency."""

    def measure(concurrency: int) -> LoadStep:
        results = asyncio.run(closed_loop(endpoint, step_s, concurrency, timeout_s))
        s = summarise(results)
        failed = s["errors"] + s["shed"]
        return LoadStep(concurrency, s["ok"] / step_s, s["p99_ms"], s["requests"], failed)

    return measure


def load_configuration(load_rps: float, capacity_rps: float | None = None) -> dict[str, float]:
    """Configuration keys that set every experiment's traffic from one total rate.

    ``load_rps`` is split between the steady-state windows and the recorder; load-spike
    derives its spike from the windows' rate. ``capacity_rps``, when measured, is kept
    with the share it represents so the report can say "N rps = 50% of capacity".
    """
    if load_rps <= 0:
        raise ValueError(f"load_rps must be positive, got {load_rps}")
    ssh = round(load_rps * SSH_SHARE, 1)
    config = {
        "load_rps": round(load_rps, 1),
        "ssh_rate_rps": ssh,
        "recorder_rate_rps": round(load_rps - ssh, 1),
    }
    if capacity_rps is not None:
        if capacity_rps <= 0:
            raise ValueError(f"capacity_rps must be positive, got {capacity_rps}")
        config["capacity_rps"] = round(capacity_rps, 1)
        config["load_fraction"] = round(load_rps / capacity_rps, 3)
    return config
