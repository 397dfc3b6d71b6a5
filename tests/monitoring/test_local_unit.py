"""monitoring.local without a Prometheus process: the file_sd file and the missing tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring.local import (
    PrometheusMissing,
    ScrapeTarget,
    prometheus_available,
    start_prometheus,
    write_targets,
)


def test_targets_file_is_file_sd_json_with_labels_per_target(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    write_targets(path, [ScrapeTarget("127.0.0.1:8001", {"zone": "a", "role": "active"})])
    write_targets(path, [ScrapeTarget("127.0.0.1:8002", {"zone": "b"}), ScrapeTarget("x:1")])
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:8002"], "labels": {"zone": "b"}},
        {"targets": ["x:1"], "labels": {}},
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["targets.json"]


def test_without_prometheus_start_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not prometheus_available()
    with pytest.raises(PrometheusMissing, match="apt-get install -y prometheus"):
        start_prometheus(tmp_path / "prom", tmp_path / "targets.json", tmp_path / "rules.yaml")
