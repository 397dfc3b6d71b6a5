"""The generated dashboard: valid Grafana JSON, every panel's query on metrics our
exporters serve (or our rules record), and PromQL that promtool parses."""

from __future__ import annotations

import json
from pathlib import Path

from monitoring import promtool as pt
from monitoring.dashboard import UID, dashboard_json, panel_queries, write_dashboard
from monitoring.rules import (
    DEGRADED_RATIO,
    MODEL_INFO,
    P99,
    REQUESTS,
    ZONE_CAPACITY,
    rule_groups,
)
from monitoring.settings import RuleSettings
from tests.monitoring.exported import unknown_names, used_names

SETTINGS = RuleSettings(zones=("a", "b", "c"))


def _recorded() -> list[str]:
    return [r["record"] for g in rule_groups(SETTINGS) for r in g["rules"] if "record" in r]


def test_dashboard_is_valid_grafana_json(tmp_path: Path) -> None:
    path = write_dashboard(tmp_path / "dashboard.json", SETTINGS)
    body = json.loads(path.read_text())
    assert body["uid"] == UID and body["title"]
    ids = [p["id"] for p in body["panels"]]
    assert len(ids) == len(set(ids)) >= 6
    cells = set()
    for panel in body["panels"]:
        assert panel["datasource"] == "${datasource}" and panel["targets"], panel["title"]
        pos = panel["gridPos"]
        cell = (pos["x"], pos["y"])
        assert cell not in cells, f"{panel['title']} overlaps another panel"
        cells.add(cell)
    assert [t["name"] for t in body["templating"]["list"]] == ["datasource"]


def test_dashboard_shows_what_the_recommender_is_judged_on() -> None:
    names = set().union(*(used_names(q) for q in panel_queries(dashboard_json(SETTINGS)).values()))
    wanted = {REQUESTS, "recdrill:router_errors:ratio_rate5m", P99, DEGRADED_RATIO}
    assert wanted | {ZONE_CAPACITY, MODEL_INFO} <= names


def test_every_query_uses_only_metrics_that_exist() -> None:
    for name, expr in panel_queries(dashboard_json(SETTINGS)).items():
        assert unknown_names(expr, _recorded()) == [], name


def test_every_query_parses_with_promtool(promtool) -> None:
    result = pt.check_queries(panel_queries(dashboard_json(SETTINGS)))
    assert result.ok, result.output


def test_the_query_check_catches_broken_promql(promtool) -> None:
    result = pt.check_queries({"Broken/A": "sum by (zone (recdrill_router_upstream_state)"})
    assert not result.ok
    assert "Broken/A" in result.output


def test_slo_lines_follow_the_settings() -> None:
    body = dashboard_json(RuleSettings(p99_ms=100.0))
    [p99] = [p for p in body["panels"] if p["title"] == "p99 latency"]
    steps = p99["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 0.1
