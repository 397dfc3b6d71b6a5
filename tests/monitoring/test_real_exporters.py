"""The rules against what the exporters really render: the router's and the replicas'
own metrics objects produce the samples, promtool evaluates the alerts over them. This
catches a label value (role, state, zone) the rules expect but the code never writes."""

from __future__ import annotations

from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitoring import promtool as pt
from monitoring.rules import rules_yaml
from monitoring.settings import RuleSettings
from serving.replica.metrics import ReplicaMetrics
from serving.router.metrics import RouterMetrics
from serving.router.upstreams import Pool, UpstreamSpec

SETTINGS = RuleSettings(zones=("a", "b"))


def _series(exposition: str, **extra: str) -> list[dict[str, str]]:
    """Every sample of a /metrics page as a constant promtool input series."""
    out = []
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = {**sample.labels, **extra}
            body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.append({"series": f"{sample.name}{{{body}}}", "values": f"{sample.value}x20"})
    return out


def _promtool_test(tmp_path: Path, series: list[dict[str, str]], alert: str, expected: list):
    (tmp_path / "rules.yaml").write_text(rules_yaml(SETTINGS))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "15m", "alertname": alert, "exp_alerts": expected}
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test))
    return pt.test_rules(tmp_path / "test.yaml")


def _router_page(specs: list[UpstreamSpec]) -> str:
    pool = Pool()
    pool.update(specs)
    body, _ = RouterMetrics().render(pool)
    return body.decode()


def _annotations(zone: str) -> dict[str, str]:
    return {
        "summary": f"Zone {zone} has fewer than 1 healthy active replicas",
        "description": f"0 healthy active replicas in zone {zone}.",
    }


def test_capacity_alert_fires_on_the_routers_real_output(promtool, tmp_path: Path) -> None:
    page = _router_page(
        [
            UpstreamSpec("a1", "http://127.0.0.1:1", "active", "a", ready=True),
            UpstreamSpec("b1", "http://127.0.0.1:2", "active", "b", ready=False),
            UpstreamSpec("s1", "http://127.0.0.1:3", "standby", "b", ready=True),
        ]
    )
    expected = [
        {
            "exp_labels": {"severity": "page", "zone": "b"},
            "exp_annotations": _annotations("b"),
        }
    ]
    result = _promtool_test(
        tmp_path, _series(page, instance="router:1"), "RecdrillZoneActiveCapacityLow", expected
    )
    assert result.ok, result.output


def test_capacity_alert_stays_quiet_when_the_router_sees_every_zone(
    promtool, tmp_path: Path
) -> None:
    page = _router_page(
        [
            UpstreamSpec("a1", "http://127.0.0.1:1", "active", "a", ready=True),
            UpstreamSpec("b1", "http://127.0.0.1:2", "active", "b", ready=True),
        ]
    )
    result = _promtool_test(
        tmp_path, _series(page, instance="router:1"), "RecdrillZoneActiveCapacityLow", []
    )
    assert result.ok, result.output


def _replica_page(version: str, ready: bool) -> str:
    metrics = ReplicaMetrics()
    metrics.model.info(
        {"model": "recommender", "version": version, "alias": "stable", "origin": "store",
         "source": "file:///store"}
    )  # fmt: skip
    metrics.ready.set(1 if ready else 0)
    return metrics.render().decode()


def test_version_alert_fires_on_the_replicas_real_output(promtool, tmp_path: Path) -> None:
    series = _series(_replica_page("v1", True), instance="r1:8001") + _series(
        _replica_page("v2", True), instance="r2:8002"
    )
    expected = [
        {
            "exp_labels": {"severity": "ticket", "model": "recommender"},
            "exp_annotations": {
                "summary": "Ready replicas serve 2 different versions of recommender",
                "description": "Replicas disagree on the model version for over 10m.",
            },
        }
    ]
    result = _promtool_test(tmp_path, series, "RecdrillServedVersionsDiverge", expected)
    assert result.ok, result.output


def test_version_alert_ignores_a_replica_that_is_not_ready(promtool, tmp_path: Path) -> None:
    series = _series(_replica_page("v1", True), instance="r1:8001") + _series(
        _replica_page("v2", False), instance="r2:8002"
    )
    result = _promtool_test(tmp_path, series, "RecdrillServedVersionsDiverge", [])
    assert result.ok, result.output
