"""Prometheus recording and alerting rules for the recommender, built in Python.

Built rather than kept as YAML because every threshold is derived from the SLO
(:class:`~monitoring.settings.RuleSettings`): the burn-rate factors multiply the error
budget, the p99 budget becomes seconds, the known zones get explicit zero series. YAML
with a loader would need a template language for the same thing. The output is plain
rule-file YAML (``promtool check rules`` reads it) and the same groups go into a
``PrometheusRule`` on Kubernetes.

Metric names are the ones ``serving/replica/metrics.py`` and ``serving/router/metrics.py``
export; ``tests/monitoring`` checks every name used here against those registries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitoring.settings import RuleSettings

# The SRE workbook (ch. 5, "multiwindow, multi-burn-rate alerts"): (long, short, factor).
PAGE_WINDOWS = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
TICKET_WINDOWS = (("1d", "2h", 3.0), ("3d", "6h", 1.0))
ERROR_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

REQUESTS = "recdrill_router_requests_total"
SERVED = f'{REQUESTS}{{outcome!="client_error"}}'
LATENCY_BUCKETS = "recdrill_router_request_seconds_bucket"
UPSTREAM_STATE = "recdrill_router_upstream_state"
MODEL_INFO = "recdrill_replica_model_info"
REPLICA_READY = "recdrill_replica_ready"
LOAD_FAILURES = "recdrill_replica_model_load_failures_total"

ERROR_RATIO = "recdrill:router_errors:ratio_rate{window}"
DEGRADED_RATIO = "recdrill:router_degraded:ratio_rate5m"
P99 = "recdrill:router_request_seconds:p99_rate5m"
ZONE_CAPACITY = "recdrill:active_ready_replicas:by_zone"
SERVED_VERSIONS = "recdrill:served_versions:count"
# Ready replicas per served version and region. ``region`` and ``region_role`` (primary |
# dr) are target labels added by the scrape configuration (PodMonitor relabelings on
# Kubernetes, file_sd labels locally); the replica itself does not know its region.
REGION_VERSIONS = "recdrill:served_versions:by_region"

ALERT_NAMES = (
    "RecdrillAvailabilityBurnRateFast",
    "RecdrillAvailabilityBurnRateSlow",
    "RecdrillLatencyP99OverBudget",
    "RecdrillDegradedRatioHigh",
    "RecdrillZoneActiveCapacityLow",
    "RecdrillModelLoadFailing",
    "RecdrillServedVersionsDiverge",
    "RecdrillDRRegionServesStaleVersion",
)


def rule_groups(settings: RuleSettings | None = None) -> list[dict[str, Any]]:
    """The rule file's ``groups``: one group, recording rules first. Prometheus runs the
    rules of a group in order but groups concurrently, so alerts kept in the same group
    always read the values recorded in the same evaluation, never a stale one."""
    s = settings or RuleSettings()
    return [{"name": "recdrill", "rules": _recording_rules(s) + _alerting_rules(s)}]


def rules_yaml(settings: RuleSettings | None = None) -> str:
    """A complete rule file, as Prometheus and ``promtool`` read it."""
    return yaml.safe_dump({"groups": rule_groups(settings)}, sort_keys=False, width=1000)


def write_rules(path: str | Path, settings: RuleSettings | None = None) -> Path:
    path = Path(path)
    path.write_text(rules_yaml(settings))
    return path


def alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The alerting rules of ``groups`` by name (callers mutate copies in tests)."""
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def _recording_rules(s: RuleSettings) -> list[dict[str, Any]]:
    rules = [
        {
            "record": ERROR_RATIO.format(window=w),
            "expr": f'sum(rate({REQUESTS}{{outcome="error"}}[{w}])) / sum(rate({SERVED}[{w}]))',
        }
        for w in ERROR_WINDOWS
    ]
    rules += [
        {
            "record": DEGRADED_RATIO,
            "expr": f'sum(rate({REQUESTS}{{outcome="degraded"}}[5m])) / sum(rate({SERVED}[5m]))',
        },
        {
            "record": P99,
            "expr": f"histogram_quantile(0.99, sum by (le) (rate({LATENCY_BUCKETS}[5m])))",
        },
        {"record": ZONE_CAPACITY, "expr": _zone_capacity_expr(s.zones)},
        {
            # Per region: two regions on different versions during replication are normal.
            "record": SERVED_VERSIONS,
            "expr": (
                f"count by (model, region) (count by (model, version, region) "
                f"({MODEL_INFO} and on (instance) ({REPLICA_READY} == 1)))"
            ),
        },
        {
            "record": REGION_VERSIONS,
            "expr": (
                f"count by (model, version, region, region_role) "
                f"({MODEL_INFO} and on (instance) ({REPLICA_READY} == 1))"
            ),
        },
    ]
    return rules


def _zone_capacity_expr(zones: tuple[str, ...]) -> str:
    """Healthy active upstreams per zone as the routers see them. ``max by (zone, upstream)``
    counts a replica once however many routers report it; a known zone whose replicas have
    all vanished from discovery still gets a 0 series, so its alert can fire."""
    active_healthy = f'{UPSTREAM_STATE}{{role="active",state="healthy"}}'
    healthy = f"sum by (zone) (max by (zone, upstream) ({active_healthy}))"
    zeros = [f'label_replace(vector(0), "zone", "{z}", "", "")' for z in zones]
    return " or ".join([healthy, *zeros])


def _burn_condition(windows: tuple[tuple[str, str, float], ...], budget: float) -> str:
    parts = []
    for long, short, factor in windows:
        threshold = _number(factor * budget)
        parts.append(
            f"({ERROR_RATIO.format(window=long)} > {threshold} "
            f"and {ERROR_RATIO.format(window=short)} > {threshold})"
        )
    return " or ".join(parts)


def _alerting_rules(s: RuleSettings) -> list[dict[str, Any]]:
    slo_pct = f"{s.availability * 100:g}%"
    return [
        {
            "alert": "RecdrillAvailabilityBurnRateFast",
            "expr": _burn_condition(PAGE_WINDOWS, s.error_budget),
            "labels": {"severity": "page"},
            "annotations": {
                "summary": f"Recommendations are failing fast enough to spend the {slo_pct} "
                "error budget within days",
                "description": "Router error ratio over 1h/5m is above 14.4x, or over 6h/30m "
                "above 6x, the error budget.",
            },
        },
        {
            "alert": "RecdrillAvailabilityBurnRateSlow",
            "expr": _burn_condition(TICKET_WINDOWS, s.error_budget),
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": f"The {slo_pct} availability error budget is burning steadily",
                "description": "Router error ratio over 1d/2h is above 3x, or over 3d/6h above "
                "1x, the error budget.",
            },
        },
        {
            "alert": "RecdrillLatencyP99OverBudget",
            "expr": f"{P99} > {_number(s.p99_ms / 1000.0)}",
            "for": s.latency_for,
            "labels": {"severity": "page"},
            "annotations": {
                "summary": f"Router p99 latency is over its {s.p99_ms:g} ms budget",
                "description": "p99 over the last 5m is {{ $value | humanizeDuration }}.",
            },
        },
        {
            "alert": "RecdrillDegradedRatioHigh",
            "expr": f"{DEGRADED_RATIO} > {_number(s.max_degraded_ratio)}",
            "for": s.degraded_for,
            "labels": {"severity": "page"},
            "annotations": {
                "summary": f"More than {s.max_degraded_ratio:.0%} of answers are the "
                "popular-items fallback",
                "description": "Degraded ratio over the last 5m is "
                "{{ $value | humanizePercentage }}.",
            },
        },
        {
            "alert": "RecdrillZoneActiveCapacityLow",
            "expr": f"{ZONE_CAPACITY} < {s.min_active_per_zone}",
            "for": s.capacity_for,
            "labels": {"severity": "page"},
            "annotations": {
                "summary": "Zone {{ $labels.zone }} has fewer than "
                f"{s.min_active_per_zone} healthy active replicas",
                "description": "{{ $value }} healthy active replicas in zone {{ $labels.zone }}.",
            },
        },
        {
            "alert": "RecdrillModelLoadFailing",
            "expr": _load_failure_expr(s.load_failure_window),
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "Replica {{ $labels.instance }} failed to load a model "
                "({{ $labels.reason }})",
                "description": f"Model load failures in the last {s.load_failure_window}.",
            },
        },
        {
            "alert": "RecdrillServedVersionsDiverge",
            "expr": f"{SERVED_VERSIONS} > 1",
            "for": s.versions_for,
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "Ready replicas serve {{ $value }} different versions of "
                "{{ $labels.model }}",
                "description": f"Replicas disagree on the model version for over {s.versions_for}.",
            },
        },
        {
            # The RPO alert: past the replication window the DR region is behind by more
            # than the replication promises; losing the primary now loses this version.
            "alert": "RecdrillDRRegionServesStaleVersion",
            "expr": _stale_dr_expr(),
            "for": s.replication_window,
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "The DR region does not serve {{ $labels.model }} version "
                "{{ $labels.version }}, which the primary serves",
                "description": "For over the replication window "
                f"({s.replication_window}), no ready replica of the DR region serves the "
                "primary's version: replication is late or the DR replicas cannot verify it.",
            },
        },
    ]


def _stale_dr_expr() -> str:
    """A version that ready primary replicas serve and no ready DR replica does. Only where
    this Prometheus sees the DR region's replicas at all: a per-region Prometheus, which
    sees one region, stays quiet instead of firing for ever."""
    primary = f'count by (model, version) ({REGION_VERSIONS}{{region_role="primary"}})'
    dr = f'{REGION_VERSIONS}{{region_role="dr"}}'
    seen = f'count({REPLICA_READY}{{region_role="dr"}})'
    return f"({primary} unless on (model, version) {dr}) and on () {seen}"


def _load_failure_expr(window: str) -> str:
    """``increase`` misses a failure counter whose series is born at 1 (a labelled child
    appears on its first ``inc``), so a series that is new within the window also counts."""
    by = "sum by (instance, reason)"
    return (
        f"{by} (increase({LOAD_FAILURES}[{window}])) > 0 or "
        f"{by} (({LOAD_FAILURES} > 0) unless ({LOAD_FAILURES} offset {window}))"
    )


def _number(value: float) -> str:
    return f"{value:.6g}"
