"""Traffic as a fault: a load spike on the recommender's endpoint, judged as it runs.

A spike is the fault of load-spike, so it is an action (the gate requires a fault
action, and the report shades its window). It fails the action when users were let
down: an answered request over the p99 budget, more shedding than allowed, or errors.
Shedding counts both clean 429s and the router's degraded popular-items answers, since
behind the router a replica's 429 reaches the user as a degraded answer.
"""

from __future__ import annotations

from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from contracts.deployment import Slo
from experiments.probes.slo import measure_window

__all__ = ["judge_spike", "spike_traffic"]

_SLO = Slo()


def judge_spike(
    window: dict[str, Any], p99_ms: float, max_shed_ratio: float, availability: float
) -> list[str]:
    """What went wrong in a spike window, in words (empty when it held)."""
    requests = int(window.get("requests") or 0)
    if requests == 0:
        return ["no request was sent"]
    problems = []
    shed = (int(window.get("shed") or 0) + int(window.get("degraded") or 0)) / requests
    if shed > max_shed_ratio:
        problems.append(f"shed {shed:.1%} of requests (429 or degraded), over {max_shed_ratio:.0%}")
    p99 = window.get("p99_ms")
    if p99 is None or p99 > p99_ms:
        problems.append(f"p99 of answered requests {p99} ms, over the {p99_ms:g} ms budget")
    if float(window.get("availability") or 0.0) < availability:
        problems.append(
            f"availability {window.get('availability', 0):.2%} below {availability:.2%} "
            f"({window.get('errors')} errors: {window.get('error_kinds')})"
        )
    return problems


def spike_traffic(
    endpoint: str,
    rate_rps: float,
    duration_s: float = 6.0,
    timeout_s: float = 2.0,
    p99_ms: float = _SLO.p99_ms,
    max_shed_ratio: float = 0.2,
    availability: float = _SLO.availability,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Send ``rate_rps`` on top of normal traffic for ``duration_s``; fail if users suffered.

    Fails (ActivityFailed) when answered requests' p99 goes over ``p99_ms``, when more
    than ``max_shed_ratio`` of requests are shed (429 or degraded), or when availability
    falls below ``availability``. Returns the window's figures either way.
    """
    window = measure_window(endpoint, duration_s, rate_rps, timeout_s)
    problems = judge_spike(window, p99_ms, max_shed_ratio, availability)
    if problems:
        raise ActivityFailed(f"load spike of {rate_rps:g} rps on {endpoint}: {'; '.join(problems)}")
    return window
