"""Representative drill load: measure what the router serves within the SLO, then run the
experiments' traffic at a set fraction of it.

A drill at a trickle of traffic proves little (DESIGN.md contract 4), so before the
catalog the drill offers open-loop load through the router at rising rates (doubling,
then bisecting between the last rate that held and the first that did not), a few seconds
a step, and keeps the highest rate whose p99 stayed within the SLO's budget at the SLO's
availability, once that rate has held three steps in a row: near the knee one short step
can hold by luck (800 rps held at p99 164 ms in one quiet drill where 476-566 rps was the
knee in three others, and the drill at half of it failed two experiments on p99), and so
can two: 673 rps held 4 of its 7 steps over four searches, passed a two-step
confirmation once, and the drill at its half (336 rps) missed p99 in model-rollout by
9 ms. A rate that misses a confirmation gives way to one bisection below it. Open loop,
because the drill's own traffic is open loop: a closed-loop search waits for answers
before it sends, so it reports the throughput of a queue, not the rate users can be
served at, and overstated the local capacity about 2x (1,093 rps closed loop against a
drill that failed its p99 at half that). The experiments then get
``fraction`` of the capacity, split between the steady-state windows and the background
recorder as the catalog's defaults split it, and every journal records the capacity, the
fraction and the rates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from contracts.deployment import Slo
from experiments.probes.load import open_loop, summarise

__all__ = [
    "Capacity",
    "CapacityError",
    "LoadStep",
    "load_configuration",
    "open_loop_step",
    "search_capacity",
]

# The catalog's default probes send 35 rps in SLO windows and 15 rps to the recorder:
# the same 70/30 split, scaled to the measured capacity.
SSH_SHARE = 0.7
START_RPS = 25.0
MAX_RPS = 5000.0
REFINEMENTS = 2  # bisection steps between the last rate that held and the first that broke
CONFIRMATIONS = 3  # tries to find a rate that holds in a row before the search gives up
CONFIRM_HOLDS = 2  # steps the best rate must hold again, in a row, to be the capacity
# Seconds a step. Not 3: a rate past what the replicas sustain takes seconds to show, as
# try timeouts turn into retries and passive ejections that take capacity away: 336 rps
# held three 3 s steps at p99 67-92 ms (sensitivity, 2026-12-06 22:41), and 6 s at it
# degraded 82.7%; the healthy drill at its design peak (238 rps) then failed 5 of 10.
STEP_S = 6.0
SETTLE_LIMIT_S = 20.0
SETTLE_RPS = 20.0
SETTLE_P99_MS = 100.0


class CapacityError(RuntimeError):
    """No load step stayed within the SLO (the first step's figures are in the message)."""


@dataclass(frozen=True)
class LoadStep:
    """One open-loop step: the rate offered and what came of it."""

    rate_rps: float
    rps: float
    p99_ms: float | None
    requests: int
    failed: int
    degraded_ratio: float = 0.0

    def within(self, slo: Slo) -> bool:
        """The SLO's own judgement: p99, availability (shed counts as failed here: a rate
        that needs shedding is past capacity) and the degraded share."""
        if self.requests == 0 or self.p99_ms is None or self.p99_ms > slo.p99_ms:
            return False
        if self.degraded_ratio > slo.max_degraded_ratio:
            return False
        return (self.requests - self.failed) / self.requests >= slo.availability

    def describe(self) -> str:
        p99 = "no answer" if self.p99_ms is None else f"p99 {self.p99_ms:.0f} ms"
        return (
            f"{self.rate_rps:7.1f} rps offered: {self.rps:7.1f} rps answered, {p99}, "
            f"{self.failed}/{self.requests} failed, {self.degraded_ratio:.1%} degraded"
        )


@dataclass(frozen=True)
class Capacity:
    """The highest offered rate within the SLO, and every step that led to it."""

    rps: float
    p99_budget_ms: float
    steps: tuple[LoadStep, ...]


def search_capacity(
    measure: Callable[[float], LoadStep],
    slo: Slo,
    *,
    start_rps: float = START_RPS,
    max_rps: float = MAX_RPS,
    refinements: int = REFINEMENTS,
    confirmations: int = CONFIRMATIONS,
    confirm_holds: int = CONFIRM_HOLDS,
    progress: Callable[[str], None] = print,
) -> Capacity:
    """Double the offered rate until a step misses the SLO (or ``max_rps``), then bisect
    ``refinements`` times between the last rate that held and the first that did not,
    then confirm: the best rate must hold ``confirm_holds`` more steps in a row; if it does
    not, the next candidate is one bisection between it and the highest rate below it
    that held (or that rate).

    A step holds when it meets the SLO (:meth:`LoadStep.within`): the judgement the
    experiments' windows make, so the drill runs at a fraction of a rate the SLO was
    actually met at, every step of several in a row."""
    steps: list[LoadStep] = []

    def holds(rate: float) -> bool:
        step = measure(rate)
        steps.append(step)
        ok = step.within(slo)
        progress(f"capacity: {step.describe()}{'' if ok else '  (misses the SLO)'}")
        return ok

    best: float | None = None
    broke: float | None = None
    rate = start_rps
    while rate <= max_rps:
        if not holds(rate):
            broke = rate
            break
        best, rate = rate, rate * 2
    if best is None:
        raise CapacityError(
            f"no load step met the SLO (p99 {slo.p99_ms:g} ms, availability "
            f"{slo.availability:.1%}, degraded {slo.max_degraded_ratio:.0%}): "
            f"{steps[0].describe()}"
        )
    for _ in range(refinements if broke is not None else 0):
        mid = math.sqrt(best * broke)
        if holds(mid):
            best = mid
        else:
            broke = mid
    for _ in range(confirmations):
        progress(f"capacity: confirming {best:.1f} rps ({confirm_holds} more steps)")
        if all(holds(best) for _ in range(confirm_holds)):
            return Capacity(round(best, 1), slo.p99_ms, tuple(steps))
        lower = max(
            (s.rate_rps for s in steps if s.within(slo) and s.rate_rps < best), default=None
        )
        if lower is None:
            break
        mid = math.sqrt(lower * best)
        best = mid if holds(mid) else lower
    raise CapacityError(
        f"no rate held {confirm_holds + 1} steps in a row within the SLO after "
        f"{confirmations} confirmations: the "
        f"router's capacity is unstable ({', '.join(s.describe() for s in steps[-3:])})"
    )


def settle(endpoint: str, limit_s: float = SETTLE_LIMIT_S) -> float:
    """After a step that degraded or failed: wait until a light probe (``SETTLE_RPS`` for
    a second) is answered whole and fast again, at most ``limit_s``; the seconds waited.

    Past the knee a replica is left with a backlog of requests the router gave up on
    (at 40m of CPU, a second of them takes 25 s to drain) and replicas ejected, so the
    next step would measure that: 400 rps held p99 166 ms on a fresh deployment and
    degraded 90% when it was confirmed right after the steps above it."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        s = summarise(asyncio.run(open_loop(endpoint, SETTLE_RPS, 1.0, 2.0)))
        fast = s["p99_ms"] is not None and s["p99_ms"] <= SETTLE_P99_MS
        if fast and s["ok"] == s["requests"] and s["degraded_ratio"] == 0:
            break
    return time.monotonic() - started


def open_loop_step(
    endpoint: str, step_s: float = STEP_S, timeout_s: float = 2.0
) -> Callable[[float], LoadStep]:
    """A ``measure`` for :func:`search_capacity`: ``step_s`` of open-loop load through
    ``endpoint`` (the router) at the given rate, timed from each request's send time,
    once the router has settled from the step before."""

    dirty = False

    def measure(rate_rps: float) -> LoadStep:
        nonlocal dirty
        if dirty:
            settle(endpoint)
        results = asyncio.run(open_loop(endpoint, rate_rps, step_s, timeout_s))
        s = summarise(results)
        failed = s["requests"] - s["ok"]
        dirty = failed > 0 or s["degraded_ratio"] > 0
        return LoadStep(
            rate_rps, s["ok"] / step_s, s["p99_ms"], s["requests"], failed, s["degraded_ratio"]
        )

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
