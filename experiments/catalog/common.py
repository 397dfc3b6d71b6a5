"""Building blocks of the catalog: activities, the shared steady state, run-time knobs.

Every experiment has the same hypothesis on both platforms: the SLO window meets the
``slo`` block and enough replicas are ready (plus, where the model itself is at stake,
online quality above the floor). Faults and capacity probes call the platform's driver
(``experiments.faults``), chosen once here by ``fault``/``driver_probe``; the platform's
numbers (windows, holds, recorder durations) are data in ``KNOBS``. Arguments
reference the configuration as ``${key}`` so a chaoslib var file (or
``chaos run --var key=value``) can change any of them without re-rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.controls import safeguard
from experiments.deployment import SECRET_SCOPE
from experiments.faults import driver_for

SLO = "experiments.probes.slo"
QUALITY = "experiments.probes.quality"
CAPACITY = "experiments.probes.capacity"
SERVING_CAPACITY = "experiments.probes.serving_capacity"
RECORDER = "experiments.probes.recorder"

# The safeguard's lines: far looser than the SLO (the hypothesis judges the SLO), they
# mark real harm, where the drill must stop. Overridable like every knob.
SAFEGUARD: dict[str, Any] = {
    "safeguard_window_s": 1.0,
    "safeguard_min_availability": 0.8,
    "safeguard_trip_windows": 2,
    "safeguard_prometheus_query": 'sum(rate(recdrill_router_requests_total{code=~"5.."}[1m]))',
    "safeguard_prometheus_max": 1.0,
    "prometheus_url": "",  # set (--set prometheus_url=…) to also watch a Prometheus query
    # On AWS: trip when any of these CloudWatch alarms (names, or a name prefix) is in
    # ALARM; the region defaults to the AWS chain's (experiments/controls/cloudwatch.py).
    "safeguard_cloudwatch_alarms": [],
    "safeguard_cloudwatch_alarm_prefix": "",
    "safeguard_cloudwatch_region": "",
}

# Blast radius: every experiment's size, smallest by default. ``blast_zone`` (zone-loss)
# defaults to the first zone; ``run --set key=value`` overrides any of them.
# ``spike_factor`` is the total traffic during load-spike as a multiple of the drill's
# normal traffic. At the default 50%-of-capacity drill load, 1.5x is 75% of the capacity
# measured before the catalog. Not 2x: that is the measured capacity itself, the knee
# where a 3 s search step holds or not by chance (566 rps held p99 53 ms in one search and
# 550 ms in the next), so a 2x spike failed one healthy drill in three (p99 1,050 ms).
BLAST_DEFAULTS: dict[str, Any] = {"blast_replicas": 1, "blast_zone": None, "spike_factor": 1.5}

# Per-platform drill knobs, rendered into the configuration (overridable with --var).
KNOBS: dict[str, dict[str, Any]] = {
    "local": {
        "ssh_window_s": 3.0,
        "ssh_rate_rps": 35.0,
        "recorder_rate_rps": 15.0,
        "request_timeout_s": 2.0,
        "fault_hold_s": 6.0,
        "zone_return_timeout_s": 120.0,
        "max_shed_ratio": 0.0,
        "safeguard_max_p99_ms": 2000.0,
        "safeguard_rate_rps": 5.0,  # 2 cores: keep the watcher's own load small
        "quality_pairs": 100,
        # The recording ends ``record_tail_s`` after the method's last step
        # (``end_recording``); ``record_s`` is only its ceiling, far above any method.
        "record_s": 120.0,
        "record_tail_s": 3.0,
    },
    "kubernetes": {
        "ssh_window_s": 10.0,
        "ssh_rate_rps": 50.0,
        "recorder_rate_rps": 25.0,
        "request_timeout_s": 2.0,
        "fault_hold_s": 60.0,
        "zone_return_timeout_s": 600.0,
        "max_shed_ratio": 0.0,
        "safeguard_max_p99_ms": 3000.0,
        "safeguard_rate_rps": 10.0,
        "quality_pairs": 200,
        "record_s": 900.0,
        "record_tail_s": 15.0,
    },
}


def python_provider(
    module: str, func: str, arguments: dict[str, Any] | None = None, secrets: bool = False
) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "type": "python",
        "module": module,
        "func": func,
        "arguments": arguments or {},
    }
    if secrets:
        provider["secrets"] = [SECRET_SCOPE]
    return provider


def probe(name: str, module: str, func: str, arguments=None, *, secrets=False, **extra) -> dict:
    return {
        "type": "probe",
        "name": name,
        "provider": python_provider(module, func, arguments, secrets),
        **extra,
    }


def action(name: str, module: str, func: str, arguments=None, *, secrets=False, **extra) -> dict:
    return {
        "type": "action",
        "name": name,
        "provider": python_provider(module, func, arguments, secrets),
        **extra,
    }


def slo_probe(max_shed_ratio: str = "${max_shed_ratio}") -> dict[str, Any]:
    return probe(
        "slo-window",
        SLO,
        "measure_window",
        {
            "endpoint": "${endpoint}",
            "duration_s": "${ssh_window_s}",
            "rate_rps": "${ssh_rate_rps}",
            "timeout_s": "${request_timeout_s}",
        },
        tolerance=probe(
            "slo-window-meets-slo",
            SLO,
            "within_slo",
            {
                "availability": "${slo_availability}",
                "p99_ms": "${slo_p99_ms}",
                "max_degraded_ratio": "${slo_max_degraded_ratio}",
                "max_shed_ratio": max_shed_ratio,
            },
        ),
    )


def fault(config: dict[str, Any], name: str, verb: str, arguments=None, **extra) -> dict:
    """An action calling ``verb`` on the configuration's platform driver (picked here, once)."""
    return action(name, driver_for(config["platform"]), verb, arguments, secrets=True, **extra)


def driver_probe(config: dict[str, Any], name: str, verb: str, arguments=None, **extra) -> dict:
    """A probe calling ``verb`` on the configuration's platform driver."""
    return probe(name, driver_for(config["platform"]), verb, arguments, secrets=True, **extra)


def capacity_probe(config: dict[str, Any]) -> dict[str, Any]:
    tolerance = probe(
        "enough-ready-replicas", CAPACITY, "enough_capacity", {"min_ready": "${replicas_per_zone}"}
    )
    return driver_probe(
        config,
        "ready-capacity",
        "ready_capacity",
        {"selector": "${active_selector}"},
        tolerance=tolerance,
    )


def recovery_probe(
    config: dict[str, Any], name: str, *, per_zone: bool = True, timeout_s: str = "${slo_rto_s}"
) -> dict[str, Any]:
    """Wait (at most ``timeout_s``, the RTO by default) for active capacity to be back.

    ``per_zone``: every zone has its replicas; otherwise the total is back, wherever
    the replicas were rescheduled (what a zone loss can recover while the zone is down).
    """
    if per_zone:
        wanted = {"min_per_zone": "${replicas_per_zone}", "timeout_s": timeout_s}
    else:
        wanted = {"min_per_zone": 0, "timeout_s": timeout_s, "min_total": "${active_replicas}"}
    return driver_probe(
        config, name, "wait_for_capacity", {"selector": "${active_selector}", **wanted}
    )


def quality_probe() -> dict[str, Any]:
    return probe(
        "online-quality",
        QUALITY,
        "online_quality",
        {
            "endpoint": "${endpoint}",
            "store_url": "${model_store_url}",
            "model": "${model_name}",
            "max_pairs": "${quality_pairs}",
        },
        tolerance=probe(
            "quality-above-floor",
            QUALITY,
            "quality_holds",
            {"quality_floor": "${slo_quality_floor}"},
        ),
    )


def hypothesis(config: dict[str, Any], *, quality: bool = False, title: str = "") -> dict[str, Any]:
    probes = [slo_probe(), capacity_probe(config)]
    if quality:
        probes.append(quality_probe())
    return {
        "title": title or "the recommender meets its SLO with enough ready replicas",
        "probes": probes,
    }


def recorder() -> dict[str, Any]:
    """The background time-series recorder; it must outlast the fault window.

    It runs until ``record_tail_s`` after the method (``experiment`` appends
    :func:`end_recording`), at most the platform's ``record_s``.
    """
    return action(
        "record-timeseries",
        RECORDER,
        "record_timeseries",
        {
            "endpoint": "${endpoint}",
            "path": "${timeseries_path}",
            "experiment": "${experiment_name}",
            "duration_s": "${record_s}",
            "rate_rps": "${recorder_rate_rps}",
            "timeout_s": "${request_timeout_s}",
        },
        background=True,
    )


def end_recording() -> dict[str, Any]:
    """The method's last step: the recorder keeps ``record_tail_s`` of the recovery and ends."""
    return probe("end-recording", RECORDER, "end_recording", {"after_s": "${record_tail_s}"})


def pause_probe(name: str, seconds: str | float) -> dict[str, Any]:
    """A named wait, visible in the journal (start/end) unlike chaoslib ``pauses``."""
    return probe(name, "experiments.probes.timing", "hold", {"seconds": seconds})


def experiment(
    name: str,
    config: dict[str, Any],
    *,
    title: str,
    description: str,
    tags: list[str],
    steady_state: dict[str, Any],
    method: list[dict[str, Any]],
    rollbacks: list[dict[str, Any]],
) -> dict[str, Any]:
    """Assemble one experiment with its configuration, run-time defaults and safeguard."""
    platform = config["platform"]
    state_dir = Path(config["deployment_file"]).parent / "chaos-state"
    configuration = {
        **SAFEGUARD,
        **BLAST_DEFAULTS,
        **KNOBS[platform],
        **config,
        "experiment_name": name,
        "state_file": str(state_dir / f"{name}.json"),
        "timeseries_path": f"{name}.timeseries.json",
    }
    body: dict[str, Any] = {
        "version": "1.0.0",
        "title": title,
        "description": description,
        "tags": ["recdrill", platform, *tags],
        "configuration": configuration,
        "steady-state-hypothesis": steady_state,
        "method": [*method, end_recording()] if recorder() in method else method,
        "rollbacks": rollbacks,
        "controls": [safeguard.control(config)],
        "secrets": {SECRET_SCOPE: {}},
        "runtime": {
            "hypothesis": {"strategy": "continuously"},
            "rollbacks": {"strategy": "always"},
        },
    }
    return body
