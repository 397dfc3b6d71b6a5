"""Judged SLO windows for serving-outage: what users saw while no replica answered, and after.

chaoslib judges tolerances only in the steady-state hypothesis; on a method probe it
ignores them. The outage's own checks are method probes placed at a moment (the fault
hold, the time after the thaw), so, like ``faults.traffic.spike_traffic``, they fail the
activity themselves (``ActivityFailed`` naming what users saw) and the gate, which
requires every method activity to succeed, fails the experiment.
"""

from __future__ import annotations

import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from contracts.deployment import Slo
from experiments.probes.slo import measure_window

__all__ = ["fallback_serves_everyone", "judge_window", "slo_restored"]

_SLO = Slo()


def judge_window(
    window: dict[str, Any],
    availability: float,
    p99_ms: float,
    max_degraded_ratio: float = 1.0,
    min_degraded_ratio: float = 0.0,
    max_shed_ratio: float = 0.0,
) -> list[str]:
    """What a measured window missed, in words (empty when it met every bound).

    Availability counts the router's degraded fallback answers as available (they are
    200s), as the SLO does; ``min_degraded_ratio`` is a floor, for a window in which no
    replica should be able to answer.
    """
    requests = int(window.get("requests") or 0)
    if requests == 0:
        return ["no request was sent"]
    problems = []
    got = float(window.get("availability") or 0.0)
    if got < availability:
        problems.append(
            f"availability {got:.2%} below {availability:.2%} ({window.get('errors')} "
            f"errors: {window.get('error_kinds')}, statuses {window.get('statuses')})"
        )
    p99 = window.get("p99_ms")
    if p99 is None or p99 > p99_ms:
        problems.append(f"p99 of answered requests {p99} ms, over the {p99_ms:g} ms budget")
    degraded = float(window.get("degraded_ratio") or 0.0)
    if degraded > max_degraded_ratio:
        problems.append(
            f"degraded {degraded:.1%} of answers, over {max_degraded_ratio:.0%} "
            f"({window.get('degraded_reasons')})"
        )
    if degraded < min_degraded_ratio:
        problems.append(
            f"only {degraded:.1%} of answers degraded, under {min_degraded_ratio:.0%}: "
            f"replicas still answered, so the outage was not total (versions "
            f"{window.get('versions')})"
        )
    shed = float(window.get("shed_ratio") or 0.0)
    if shed > max_shed_ratio:
        problems.append(f"shed {shed:.1%} of requests with 429, over {max_shed_ratio:.0%}")
    return problems


def fallback_serves_everyone(
    endpoint: str,
    duration_s: float,
    rate_rps: float = 15.0,
    timeout_s: float = 2.0,
    availability: float = _SLO.availability,
    p99_ms: float = 1000.0,
    min_degraded_ratio: float = 1.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Hold the outage for ``duration_s`` while measuring it: every request is answered.

    While every replica is frozen, fails (``ActivityFailed``) when a request got an error
    (availability under ``availability``), when the answers' p99 is over ``p99_ms``, or
    when fewer than ``min_degraded_ratio`` of the answers are the router's popular-items
    fallback (then some replica escaped the fault, and the fallback was not what was
    tested). Returns the window's figures.
    """
    window = measure_window(endpoint, duration_s, rate_rps, timeout_s)
    problems = judge_window(
        window, availability, p99_ms, min_degraded_ratio=min_degraded_ratio, max_shed_ratio=0.0
    )
    if problems:
        raise ActivityFailed(f"outage of every replica on {endpoint}: {'; '.join(problems)}")
    return window


def slo_restored(
    endpoint: str,
    duration_s: float,
    rate_rps: float,
    within_s: float,
    timeout_s: float = 2.0,
    availability: float = _SLO.availability,
    p99_ms: float = _SLO.p99_ms,
    max_degraded_ratio: float = _SLO.max_degraded_ratio,
    max_shed_ratio: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """After the fault, SLO windows one after another until one meets the normal SLO.

    The normal SLO, not the outage's budget: availability, p99, the degraded ratio and
    the 429 ratio all back within their bounds, in a whole window that starts within
    ``within_s`` (the RTO) of this probe's start. Fails (``ActivityFailed``) with the
    last window's shortfalls otherwise. Returns the window that met it, with
    ``restored_after_s`` and the shortfalls of the windows before it.
    """
    started = time.monotonic()
    missed: list[list[str]] = []
    while True:
        began = time.monotonic() - started
        window = measure_window(endpoint, duration_s, rate_rps, timeout_s)
        problems = judge_window(
            window,
            availability,
            p99_ms,
            max_degraded_ratio=max_degraded_ratio,
            max_shed_ratio=max_shed_ratio,
        )
        if not problems:
            return {**window, "restored_after_s": round(began, 2), "missed_windows": missed}
        missed.append(problems)
        if time.monotonic() - started >= within_s:
            raise ActivityFailed(
                f"SLO not back within {within_s:g} s after the outage on {endpoint}: "
                f"{len(missed)} windows missed it, the last: {'; '.join(problems)}"
            )
