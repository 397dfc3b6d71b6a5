"""The alert rules: promtool unit tests per alert (firing and quiet), each shown able to
fail, and every metric name checked against what our exporters really serve."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring import promtool as pt
from monitoring.rules import ALERT_NAMES, alerts, rule_groups, rules_yaml
from monitoring.settings import RuleSettings, RuleSettingsError
from tests.monitoring.exported import unknown_names

PROMTOOL_TESTS = Path(__file__).parent / "promtool"
TEST_FILES = sorted(PROMTOOL_TESTS.glob("*.yaml"))
# Pinned here, not taken from the defaults, so the series in the promtool tests keep
# meaning what they say if the SLO defaults move.
SETTINGS = RuleSettings(
    availability=0.999, p99_ms=250.0, max_degraded_ratio=0.05, zones=("a", "b", "c")
)


def _without_annotations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """promtool compares annotations too; the tests assert firing and labels, and
    ``promtool check rules`` (below) covers the annotation templates."""
    groups = copy.deepcopy(groups)
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return groups


def _run_promtool_test(
    tmp_path: Path, test_file: Path, groups: list[dict[str, Any]]
) -> pt.PromtoolResult:
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": _without_annotations(groups)}, sort_keys=False)
    )
    shutil.copy(test_file, tmp_path / test_file.name)
    return pt.test_rules(tmp_path / test_file.name)


def _alerts_tested(test_file: Path) -> set[str]:
    body = yaml.safe_load(test_file.read_text())
    return {a["alertname"] for t in body["tests"] for a in t.get("alert_rule_test", [])}


def _test_file_for(alert: str) -> Path:
    """The test file whose firing cases are about ``alert`` (its first alertname)."""
    for path in TEST_FILES:
        body = yaml.safe_load(path.read_text())
        if body["tests"][0]["alert_rule_test"][0]["alertname"] == alert:
            return path
    raise AssertionError(f"no promtool test file for {alert}")


def test_rule_file_passes_promtool_check(promtool, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_yaml(SETTINGS))
    result = pt.check_rules(path)
    assert result.ok, result.output
    assert f"{len(ALERT_NAMES) + 12} rules found" in result.output


def test_promtool_check_refuses_a_broken_expression(promtool, tmp_path: Path) -> None:
    groups = rule_groups(SETTINGS)
    alerts(groups)["RecdrillDegradedRatioHigh"]["expr"] = "sum(rate(x[5m]) >"
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    assert not pt.check_rules(path).ok


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.stem)
def test_promtool_unit_tests_pass(promtool, tmp_path: Path, test_file: Path) -> None:
    result = _run_promtool_test(tmp_path, test_file, rule_groups(SETTINGS))
    assert result.ok, result.output


def test_every_alert_has_promtool_tests() -> None:
    tested = set().union(*(_alerts_tested(p) for p in TEST_FILES))
    assert set(alerts(rule_groups(SETTINGS))) == set(ALERT_NAMES)
    assert tested == set(ALERT_NAMES)


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_an_alert_that_can_never_fire_fails_its_tests(promtool, tmp_path: Path, alert: str) -> None:
    groups = rule_groups(SETTINGS)
    alerts(groups)[alert]["expr"] = "vector(1) < 0"
    result = _run_promtool_test(tmp_path, _test_file_for(alert), groups)
    assert not result.ok
    assert alert in result.output


def test_an_alert_that_fires_too_eagerly_fails_its_tests(promtool, tmp_path: Path) -> None:
    loose = RuleSettings(availability=0.999, p99_ms=50.0, zones=("a", "b", "c"))
    result = _run_promtool_test(
        tmp_path, _test_file_for("RecdrillLatencyP99OverBudget"), rule_groups(loose)
    )
    assert not result.ok
    assert "fast requests with under 1% slow ones stay quiet" in result.output


def test_without_known_zones_a_vanished_zone_goes_unnoticed(promtool, tmp_path: Path) -> None:
    """Why the rules take the zone list: a zone with no series at all has nothing to
    compare with the threshold."""
    result = _run_promtool_test(
        tmp_path, _test_file_for("RecdrillZoneActiveCapacityLow"), rule_groups(RuleSettings())
    )
    assert not result.ok
    assert "vanished from discovery" in result.output


def test_rules_use_only_metrics_our_exporters_serve() -> None:
    groups = rule_groups(SETTINGS)
    recorded = [r["record"] for g in groups for r in g["rules"] if "record" in r]
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            assert unknown_names(rule["expr"], recorded) == [], name


def test_the_name_check_catches_a_misspelled_metric() -> None:
    expr = "sum(rate(recdrill_router_request_total[5m])) / recdrill:router_errors:ratio_rate7m"
    assert unknown_names(expr, ["recdrill:router_errors:ratio_rate5m"]) == [
        "recdrill_router_request_total",
        "recdrill:router_errors:ratio_rate7m",
    ]


def test_thresholds_follow_the_slo() -> None:
    strict = alerts(rule_groups(RuleSettings.from_slo({"availability": 0.99, "p99_ms": 100})))
    assert "> 0.144 and" in strict["RecdrillAvailabilityBurnRateFast"]["expr"]
    assert strict["RecdrillLatencyP99OverBudget"]["expr"].endswith("> 0.1")


def test_drill_settings_shorten_hold_times_only() -> None:
    drill = SETTINGS.for_drill()
    assert (drill.availability, drill.p99_ms, drill.zones) == (0.999, 250.0, ("a", "b", "c"))
    assert drill.capacity_for == "10s"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("availability", 1.0),
        ("p99_ms", 0.0),
        ("max_degraded_ratio", -0.1),
        ("min_active_per_zone", 0),
        ("capacity_for", "30 seconds"),
    ],
)
def test_bad_settings_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(RuleSettingsError, match=field):
        RuleSettings(**{field: value})


def test_the_stale_dr_alert_waits_for_the_replication_window(promtool, tmp_path: Path) -> None:
    """A window shorter than the test's 15m fires while the DR region is still within it."""
    eager = RuleSettings(
        availability=0.999,
        p99_ms=250.0,
        max_degraded_ratio=0.05,
        zones=("a", "b", "c"),
        replication_window="5m",
    )
    result = _run_promtool_test(
        tmp_path, _test_file_for("RecdrillDRRegionServesStaleVersion"), rule_groups(eager)
    )
    assert not result.ok
    assert "past the replication window fires" in result.output


def test_the_replication_window_must_be_a_duration() -> None:
    with pytest.raises(RuleSettingsError, match="replication_window must be a Prometheus"):
        RuleSettings(replication_window="15 minutes")
