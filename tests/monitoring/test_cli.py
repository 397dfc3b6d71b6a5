"""``python -m monitoring``: files from a deployment description, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from monitoring.__main__ import main


def test_rules_take_slo_and_zones_from_the_deployment(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment.json"
    deployment.write_text(json.dumps({"slo": {"p99_ms": 400}, "zones": ["z1", "z2"]}))
    out = tmp_path / "rules.yaml"
    assert main(["rules", "--out", str(out), "--deployment", str(deployment), "--drill"]) == 0
    rules = {
        r.get("alert") or r["record"]: r
        for r in yaml.safe_load(out.read_text())["groups"][0]["rules"]
    }
    assert rules["RecdrillLatencyP99OverBudget"]["expr"].endswith("> 0.4")
    assert rules["RecdrillZoneActiveCapacityLow"]["for"] == "10s"
    assert '"zone", "z2"' in rules["recdrill:active_ready_replicas:by_zone"]["expr"]


def test_dashboard_is_written(tmp_path: Path) -> None:
    out = tmp_path / "dashboard.json"
    assert main(["dashboard", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["panels"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "deployment description"),
        ('{"slo": {"availability": 1.5}}', "availability must be in (0, 1)"),
        ('{"slo": [], "zones": []}', "'slo' or 'zones' is malformed"),
    ],
)
def test_bad_deployment_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    deployment = tmp_path / "deployment.json"
    deployment.write_text(body)
    code = main(["rules", "--out", str(tmp_path / "r.yaml"), "--deployment", str(deployment)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r.yaml").exists()
