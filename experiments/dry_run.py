"""``run --dry-run``: what each experiment would inject where, and nothing else.

The plan is built from the rendered experiments in memory: every action of the method
and of the rollbacks with its arguments resolved against the configuration (as chaoslib
would), the platform driver that would carry it out and the safeguard's lines. No
activity is called, no file is written and no traffic is sent.
"""

from __future__ import annotations

import json
from typing import Any

from chaoslib import substitute

from experiments import catalog
from experiments.faults import driver_for
from experiments.preflight import Preflight, drill_load_rps


def _call(activity: dict[str, Any], configuration: dict[str, Any]) -> str:
    provider = activity.get("provider", {})
    arguments = substitute(provider.get("arguments", {}), configuration, {})
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in arguments.items())
    background = " (background)" if activity.get("background") else ""
    return (
        f"{activity['name']}: {provider.get('module')}.{provider.get('func')}({shown}){background}"
    )


def plan_lines(experiments: dict[str, dict[str, Any]], found: Preflight) -> list[str]:
    """The dry-run report, one line per fact."""
    lines = []
    for name, body in experiments.items():
        config = body["configuration"]
        lines.append(
            f"{name} (blast radius {catalog.CATALOG[name].BLAST_RADIUS}, "
            f"{drill_load_rps(config):g} rps of drill load) on {config['environment']} "
            f"via {driver_for(config['platform'])}"
        )
        lines.append(
            f"  safeguard: stop when availability < {config['safeguard_min_availability']:g} "
            f"or p99 > {config['safeguard_max_p99_ms']:g} ms for "
            f"{config['safeguard_trip_windows']} window(s) of {config['safeguard_window_s']:g} s"
        )
        for phase in ("method", "rollbacks"):
            for activity in body.get(phase, []):
                if activity.get("type") == "action":
                    lines.append(f"  {phase}: {_call(activity, config)}")
    for refusal in found.refusals:
        lines.append(f"would refuse without --force: {refusal}")
    for problem in found.over_ceiling:
        lines.append(f"would refuse: {problem}")
    lines.append("dry run: nothing was injected, no state file or journal was written")
    return lines
