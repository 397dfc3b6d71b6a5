"""Pre-flight: the checks before a drill touches a deployment, and the ``--force`` record.

Against production a drill must run inside a drill window and start from a healthy
steady state (one SLO window against the endpoint); ``--force "reason"`` overrides
either, and the reason lands in every journal as the ``recdrill-force`` extension.
The traffic ceiling is never forceable: lower the rates with ``--set`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.deployment import Deployment
from experiments.probes.slo import measure_window, within_slo
from experiments.windows import window_refusal

FORCE_EXTENSION = "recdrill-force"
# The configuration keys whose load a drill adds at the same time, per experiment.
LOAD_KEYS = (
    "ssh_rate_rps",
    "recorder_rate_rps",
    "safeguard_rate_rps",
    "spike_rate_rps",
    "outage_rate_rps",
)

Measure = Callable[..., dict[str, Any]]


class PreflightRefused(Exception):
    """The drill must not run; the message says why and how to override if one may."""


@dataclass
class Preflight:
    """What the pre-flight found; ``refusals`` are forceable, ``ceiling`` problems not."""

    refusals: list[str] = field(default_factory=list)
    over_ceiling: list[str] = field(default_factory=list)
    steady_state: dict[str, Any] | None = None


def drill_load_rps(configuration: dict[str, Any]) -> float:
    """Requests per second the experiment adds at its peak (probes, recorder, safeguard, spike,
    serving-outage's measured hold)."""
    return sum(float(configuration.get(key) or 0.0) for key in LOAD_KEYS)


def over_ceiling(deployment: Deployment, experiments: dict[str, dict[str, Any]]) -> list[str]:
    """Experiments whose drill load exceeds the deployment's traffic ceiling."""
    ceiling = deployment.traffic_ceiling_rps
    if ceiling is None:
        return []
    problems = []
    for name, body in experiments.items():
        load = drill_load_rps(body["configuration"])
        if load > ceiling:
            keys = [key for key in LOAD_KEYS if body["configuration"].get(key)]
            problems.append(
                f"{name} adds {load:g} rps, over the traffic ceiling of {ceiling:g} rps "
                f"(lower {', '.join(keys)} with --set)"
            )
    return problems


def steady_state_refusal(
    deployment: Deployment, configuration: dict[str, Any], measure: Measure = measure_window
) -> tuple[str | None, dict[str, Any]]:
    """One SLO window against the endpoint: why it is already unhealthy (or None), figures."""
    window = measure(
        configuration["endpoint"],
        float(configuration["ssh_window_s"]),
        float(configuration["ssh_rate_rps"]),
        float(configuration["request_timeout_s"]),
    )
    slo = deployment.slo
    if within_slo(window, slo.availability, slo.p99_ms, slo.max_degraded_ratio):
        return None, window
    p99 = window.get("p99_ms")
    return (
        "the steady state is already unhealthy before any fault: availability "
        f"{window.get('availability', 0.0):.4f} (SLO {slo.availability:g}), p99 "
        f"{'none' if p99 is None else f'{p99:.0f} ms'} (SLO {slo.p99_ms:g} ms), degraded "
        f"{window.get('degraded_ratio', 1.0):.3f} (SLO {slo.max_degraded_ratio:g})"
    ), window


def preflight(
    deployment: Deployment,
    experiments: dict[str, dict[str, Any]],
    *,
    now: datetime | None = None,
    probe: bool = True,
    measure: Measure = measure_window,
) -> Preflight:
    """Every check; ``probe=False`` (dry run) skips the traffic-sending steady-state window."""
    found = Preflight(over_ceiling=over_ceiling(deployment, experiments))
    refusal = window_refusal(deployment, now or datetime.now(UTC))
    if refusal:
        found.refusals.append(refusal)
    if deployment.production and probe and experiments:
        first = next(iter(experiments.values()))["configuration"]
        unhealthy, found.steady_state = steady_state_refusal(deployment, first, measure)
        if unhealthy:
            found.refusals.append(unhealthy)
    return found


def enforce(found: Preflight, force_reason: str | None) -> list[dict[str, Any]]:
    """Raise unless the drill may go; the journal extensions recording a ``--force``."""
    if found.over_ceiling:
        raise PreflightRefused("refused: " + "; ".join(found.over_ceiling))
    if found.refusals and not force_reason:
        raise PreflightRefused(
            "refused: " + "; ".join(found.refusals) + ' (override with --force "reason")'
        )
    if force_reason is None:
        return []
    if not force_reason.strip():
        raise PreflightRefused("--force needs a reason, e.g. --force 'INC-123 game day'")
    return [
        {
            "name": FORCE_EXTENSION,
            "reason": force_reason.strip(),
            "overrode": list(found.refusals),
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    ]
