"""serving-outage: every replica stops answering at once; the router's fallback answers everyone.

The product promise: a product page that shows no recommendations loses money, so when
no replica answers the router answers with popular items flagged ``degraded`` instead of
an error. No other experiment takes every replica away at once, so without this one the
drill cannot tell a router with its fallback turned off from one with it on.
"""

from __future__ import annotations

from typing import Any

from experiments.catalog.common import (
    SLO,
    experiment,
    fault,
    pause_probe,
    probe,
    recorder,
    recovery_probe,
)

NAME = "serving-outage"
PLATFORMS = ("local",)  # the Kubernetes API cannot pause a container
BLAST_RADIUS = 7.5  # every replica of the region answers nothing; none is lost: past a zone
NO_ALERT = (
    "the fault lasts seconds: every zone's capacity alert needs 10 s of no healthy active "
    "replica (drill rules) and the hold is shorter; the degraded-ratio and p99 alerts are "
    "over 5 m rates held 15 s, which seconds of degraded answers cannot move reliably, "
    "and the availability burn-rate alerts rightly stay quiet: no request fails"
)
OUTAGE_PROBES = "experiments.probes.outage"

# The outage budget, judged by the steady state before, during and after (as region-loss
# judges its failover window by FAILOVER), with the normal SLO judged again after the thaw.
# - Availability: the SLO's own. The promise is no error at all, and a fallback answer is
#   a 200, so it counts as available exactly as the SLO counts it.
# - Degraded ratio up to 100%: with no replica answering, the popular-items fallback is
#   the only right answer, so every answer may be degraded.
# - p99 1 s: the router's deadline (``--deadline``, 1 s by default), the latest it answers
#   anything. Until its health checks mark every replica unhealthy (two failed /readyz
#   probes, about 0.5 s) a request waits out its tries before the fallback: 3 tries x
#   0.25 s = 0.75 s by default, inside the deadline. Once none is healthy it answers at
#   once. The SLO's 250 ms cannot hold for those first requests; the deadline must.
# While the fault is held, every answer must be the fallback (``min_degraded_ratio`` 1):
# one that is not came from a replica the freeze missed, so the outage was not total.
# The hold, and the window after the thaw, are measured at their own small rate on top of
# the steady-state windows and the recorder (``experiments.preflight`` counts it against
# the traffic ceiling). Not at the windows' rate: at the drill's load that doubled the
# traffic right after the thaw (231 rps against a measured capacity of 266 rps, all
# from one chaos process) and the overload, not the outage, missed the SLO for ~6 s.
OUTAGE: dict[str, Any] = {
    "outage_rate_rps": 10.0,
    "outage_p99_ms": 1000.0,
    "outage_max_degraded_ratio": 1.0,
    "outage_min_degraded_ratio": 1.0,
}


def replica_selector(config: dict[str, Any]) -> str:
    """The label terms the active and standby selectors share: every replica, both roles.

    Without a standby selector, the active one. Refuses selectors with nothing in common,
    since an empty selector would match every process the platform knows.
    """
    active, standby = config["active_selector"], config.get("standby_selector") or ""
    if not standby:
        return active
    active_terms = [t.strip() for t in active.split(",") if t.strip()]
    standby_terms = {t.strip() for t in standby.split(",")}
    shared = [t for t in active_terms if t in standby_terms]
    if not shared:
        raise ValueError(
            f"experiment {NAME!r} freezes every replica by the labels the active "
            f"({active!r}) and standby ({standby!r}) selectors share, and they share none"
        )
    return ",".join(shared)


def _window_args(rate: str = "${ssh_rate_rps}") -> dict[str, Any]:
    return {
        "endpoint": "${endpoint}",
        "duration_s": "${ssh_window_s}",
        "rate_rps": rate,
        "timeout_s": "${request_timeout_s}",
    }


def outage_hypothesis() -> dict[str, Any]:
    """The SLO window judged by the outage budget (no capacity probe: there is none)."""
    tolerance = probe(
        "slo-window-within-outage-budget",
        SLO,
        "within_slo",
        {
            "availability": "${slo_availability}",
            "p99_ms": "${outage_p99_ms}",
            "max_degraded_ratio": "${outage_max_degraded_ratio}",
            "max_shed_ratio": "${max_shed_ratio}",
        },
    )
    window = probe(
        "slo-window-outage-budget", SLO, "measure_window", _window_args(), tolerance=tolerance
    )
    return {
        "title": "no request gets an error, answered within the outage budget",
        "probes": [window],
    }


def build(config: dict[str, Any]) -> dict[str, Any]:
    selector = replica_selector(config)
    total = int(config["active_replicas"]) + int(config.get("standby_replicas") or 0)
    thaw = fault(config, "thaw-every-replica", "thaw_replicas")
    body = experiment(
        NAME,
        config,
        title="With every replica silent, the router answers everyone with popular items",
        description=(
            "Under the drill's load, every replica of the region, active and standby, is "
            "frozen with SIGSTOP for the fault hold: sockets open, nothing answered. No "
            "request may get an error: the router answers with its popular-items fallback "
            "flagged degraded. The steady state is judged with the outage budget "
            "(availability at the SLO, every answer allowed to be degraded, p99 within "
            "the router's 1 s deadline); during the hold every answer must be the "
            "fallback. After SIGCONT the active capacity is back within the RTO and one "
            "window meets the normal SLO again. The rollback thaws every replica."
        ),
        tags=["fallback", "replica", "outage"],
        steady_state=outage_hypothesis(),
        method=[
            recorder(),
            pause_probe("baseline", 1.5),
            fault(
                config,
                "freeze-every-replica",
                "freeze_replicas",
                {"selector": "${outage_selector}", "count": "${outage_replicas}"},
            ),
            probe(
                "fallback-answers-everyone",
                OUTAGE_PROBES,
                "fallback_serves_everyone",
                {
                    **_window_args("${outage_rate_rps}"),
                    "duration_s": "${fault_hold_s}",
                    "availability": "${slo_availability}",
                    "p99_ms": "${outage_p99_ms}",
                    "min_degraded_ratio": "${outage_min_degraded_ratio}",
                },
            ),
            thaw,
            recovery_probe(config, "capacity-back-within-rto"),
            probe(
                "slo-restored-after-thaw",
                OUTAGE_PROBES,
                "slo_restored",
                {
                    **_window_args("${outage_rate_rps}"),
                    "within_s": "${slo_rto_s}",
                    "availability": "${slo_availability}",
                    "p99_ms": "${slo_p99_ms}",
                    "max_degraded_ratio": "${slo_max_degraded_ratio}",
                    "max_shed_ratio": "${max_shed_ratio}",
                },
            ),
        ],
        rollbacks=[thaw],
    )
    conf = body["configuration"]
    conf.update({k: v for k, v in OUTAGE.items() if k not in config})
    conf.setdefault("outage_selector", selector)
    conf.setdefault("outage_replicas", total)
    return body
