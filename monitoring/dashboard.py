"""The recommender's Grafana dashboard, generated with grafanalib.

Built from the same metric and recording-rule names as the alerts (imported from
``monitoring.rules``), so a renamed metric breaks one place and the dashboard test, not a
hand-edited JSON file. SLO lines come from the same :class:`RuleSettings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    Target,
    Template,
    Templating,
    Threshold,
    TimeSeries,
)

from monitoring.rules import (
    DEGRADED_RATIO,
    ERROR_RATIO,
    LOAD_FAILURES,
    MODEL_INFO,
    P99,
    REPLICA_READY,
    REQUESTS,
    UPSTREAM_STATE,
    ZONE_CAPACITY,
)
from monitoring.settings import RuleSettings

UID = "recdrill-recommender"
DATASOURCE = "${datasource}"
_WIDTH = 12
_HEIGHT = 8


def _panel(
    index: int,
    title: str,
    targets: list[tuple[str, str]],
    unit: str,
    description: str,
    threshold: float | None = None,
) -> TimeSeries:
    extra: dict[str, Any] = {}
    thresholds = []
    if threshold is not None:
        thresholds = [Threshold("green", 0, 0.0), Threshold("red", 1, threshold)]
        extra = {"fieldConfig": {"defaults": {"custom": {"thresholdsStyle": {"mode": "line"}}}}}
    return TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=[
            Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i))
            for i, (expr, legend) in enumerate(targets)
        ],
        unit=unit,
        thresholds=thresholds,
        extraJson=extra,
        gridPos=GridPos(h=_HEIGHT, w=_WIDTH, x=(index % 2) * _WIDTH, y=(index // 2) * _HEIGHT),
    )


def build_dashboard(settings: RuleSettings | None = None) -> Dashboard:
    s = settings or RuleSettings()
    standby = f'{UPSTREAM_STATE}{{role="standby",state="healthy"}}'
    served_by_ready = f"{MODEL_INFO} and on (instance) ({REPLICA_READY} == 1)"
    specs = [
        (
            "Traffic by outcome",
            [(f"sum by (outcome) (rate({REQUESTS}[1m]))", "{{outcome}}")],
            "reqps",
            "Client requests through the router, per outcome.",
            None,
        ),
        (
            "Error ratio",
            [
                (ERROR_RATIO.format(window="5m"), "5m"),
                (ERROR_RATIO.format(window="1h"), "1h"),
            ],
            "percentunit",
            f"Share of served requests that failed; the line is the {s.availability:g} "
            "SLO's error budget.",
            round(s.error_budget, 9),
        ),
        (
            "p99 latency",
            [(P99, "p99 (5m)")],
            "s",
            f"Router p99; the line is the {s.p99_ms:g} ms budget.",
            s.p99_ms / 1000.0,
        ),
        (
            "Degraded answers",
            [(DEGRADED_RATIO, "ratio (5m)")],
            "percentunit",
            "Share of answers that are the popular-items fallback.",
            s.max_degraded_ratio,
        ),
        (
            "Healthy replicas per zone",
            [
                (ZONE_CAPACITY, "active {{zone}}"),
                (
                    f"sum by (zone) (max by (zone, upstream) ({standby}))",
                    "standby {{zone}}",
                ),
            ],
            "none",
            "Healthy upstreams as the routers see them; the line is the alert's minimum.",
            float(s.min_active_per_zone),
        ),
        (
            "Served model version",
            [(f"count by (version) ({served_by_ready})", "{{version}}")],
            "none",
            "Ready replicas per served version: more than one line is a rollout in flight.",
            None,
        ),
        (
            "Model load failures",
            [(f"sum by (reason) (increase({LOAD_FAILURES}[5m]))", "{{reason}}")],
            "none",
            "Failed model loads per reason over 5m (checksum refusals, store outages).",
            None,
        ),
        (
            "Firing alerts",
            [('sum by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}")],
            "none",
            "The recommender's alerts that are firing.",
            None,
        ),
    ]
    return Dashboard(
        title="recdrill recommender",
        uid=UID,
        description="Traffic, errors, latency, degraded answers, capacity and the served "
        "model of the recommender.",
        tags=["recdrill"],
        timezone="utc",
        refresh="10s",
        templating=Templating(
            [
                Template(
                    name="datasource",
                    label="Prometheus",
                    query="prometheus",
                    type="datasource",
                    default="Prometheus",
                )
            ]
        ),
        panels=[_panel(i, *spec) for i, spec in enumerate(specs)],
    ).auto_panel_ids()


def dashboard_json(settings: RuleSettings | None = None) -> dict[str, Any]:
    """The dashboard as Grafana imports it (plain JSON types only)."""
    return json.loads(json.dumps(build_dashboard(settings).to_json_data(), cls=DashboardEncoder))


def write_dashboard(path: str | Path, settings: RuleSettings | None = None) -> Path:
    path = Path(path)
    path.write_text(json.dumps(dashboard_json(settings), indent=2, sort_keys=True))
    return path


def panel_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Every query of every panel, keyed ``"<panel title>/<refId>"``."""
    return {
        f"{panel['title']}/{target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
