"""The drill's own verdict: expected experiments, missing journals, the catalog's exit code.

The environment and catalog steps are small fakes (a real local environment is the
integration tests' business); the gate step runs the real ``python -m experiments gate``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from experiments import catalog
from experiments.capacity import Capacity, CapacityError
from experiments.detection import ExpectedAlert, alerts_path
from experiments.drill import EXIT_USAGE, DrillPaths, _step, run_drill
from experiments.timeseries import fault_window
from monitoring.alerts_client import AlertEpisode, PrometheusQueryError
from tests.experiments.fakes import write_deployment
from tests.experiments.journals import factories as f

TWO = ["replica-loss", "zone-loss"]
CAPACITY = Capacity(rps=200.0, p99_budget_ms=250.0, steps=())


def _measured(paths: DrillPaths, step_s: float) -> Capacity:
    return CAPACITY


def _no_prometheus(paths: DrillPaths) -> None:
    return None


# The drill's in-process conditions, as small fakes: a measured capacity, no Prometheus.
NO_LOAD_SEARCH = {"measure": _measured, "monitoring": _no_prometheus}


class FakeDrill:
    """Plays every step but the gate; the catalog step writes clean journals for ``write``."""

    def __init__(
        self,
        paths: DrillPaths,
        write: list[str],
        run_code: int = 0,
        journal: Callable[[], dict[str, Any]] = f.clean_journal,
    ) -> None:
        self.paths, self.write, self.run_code, self.journal = paths, write, run_code, journal
        self.steps: list[tuple[str, list[str]]] = []

    def __call__(self, title: str, argv: list[str]) -> int:
        self.steps.append((title, argv))
        if title.startswith("gate"):
            return _step(title, argv)
        if title.startswith("run the experiment catalog"):
            self.paths.journals.mkdir(parents=True, exist_ok=True)
            for name in self.write:
                f.write_journal(self.paths.journals, self.journal(), name=name)
            return self.run_code
        return 0

    def titles(self) -> list[str]:
        return [title for title, _ in self.steps]


def _drill(tmp_path: Path, names: list[str], write: list[str], run_code: int = 0):
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, write, run_code)
    code = run_drill(
        "file:///nowhere", "recommender", paths, names, train=False, **NO_LOAD_SEARCH, step=fake
    )
    return code, fake, paths


def test_all_expected_journals_clean_passes(tmp_path: Path) -> None:
    code, fake, paths = _drill(tmp_path, TWO, write=TWO)
    assert code == 0
    assert fake.titles()[-1] == "bring the local environment down"
    root = ET.parse(paths.junit).getroot()
    assert root.get("tests") == "2" and root.get("failures") == "0"


def test_a_missing_journal_fails_the_drill_naming_the_experiment(tmp_path: Path) -> None:
    code, fake, paths = _drill(tmp_path, TWO, write=["replica-loss"], run_code=1)
    assert code == 1
    summary = paths.summary.read_text()
    assert "FAILED (1/2 experiments passed)" in summary
    assert "zone-loss.json does not exist" in summary
    assert fake.titles()[-1] == "bring the local environment down"


def test_a_failed_catalog_run_fails_the_drill_even_when_the_gate_passes(tmp_path: Path) -> None:
    code, _, paths = _drill(tmp_path, TWO, write=TWO, run_code=3)
    assert "PASSED (2/2" in paths.summary.read_text()
    assert code == 3


def test_without_names_the_drill_expects_the_whole_local_catalog(tmp_path: Path) -> None:
    paths = DrillPaths(tmp_path / "drill")
    seen: dict[str, list[str]] = {}

    def step(title: str, argv: list[str]) -> int:
        seen[title] = argv
        return 0

    assert run_drill("file:///x", "m", paths, [], train=False, **NO_LOAD_SEARCH, step=step) == 0
    gated = [Path(a).stem for a in seen["gate the journals"] if a.endswith(".json")]
    assert gated == catalog.names("local", regions=True)
    single = catalog.names("local")
    assert seen["run the experiment catalog"][-len(single) :] == single
    regional = seen["run the region experiments"]
    assert regional[-2:] == catalog.region_names("local") == ["replication-lag", "region-loss"]
    assert regional[regional.index("--load-rps") + 1] == "25.0"  # a quarter of the 100 rps
    assert "--regions" in seen["bring two regions up"]
    assert str(paths.regions.env) in seen["bring the two regions down"]


def test_without_the_regional_phase_the_region_experiments_are_not_expected(
    tmp_path: Path,
) -> None:
    paths = DrillPaths(tmp_path / "drill")
    seen: dict[str, list[str]] = {}

    def step(title: str, argv: list[str]) -> int:
        seen[title] = argv
        return 0

    assert (
        run_drill(
            "file:///x", "m", paths, [], train=False, **NO_LOAD_SEARCH, step=step, regions=False
        )
        == 0
    )
    gated = [Path(a).stem for a in seen["gate the journals"] if a.endswith(".json")]
    assert gated == catalog.names("local")
    assert "bring two regions up" not in seen


def test_a_missing_region_journal_fails_the_drill_by_name(tmp_path: Path) -> None:
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, ["zone-loss"])
    names = ["zone-loss", "region-loss"]
    assert run_drill("file:///x", "m", paths, names, train=False, **NO_LOAD_SEARCH, step=fake) == 1
    assert "region-loss.json does not exist" in paths.summary.read_text()
    assert fake.titles().index("bring two regions up") > fake.titles().index(
        "run the experiment catalog"
    )


def test_stale_journals_do_not_stand_in_for_this_run(tmp_path: Path) -> None:
    paths = DrillPaths(tmp_path / "drill")
    paths.journals.mkdir(parents=True)
    f.write_journal(paths.journals, f.clean_journal(), name="zone-loss")
    fake = FakeDrill(paths, ["replica-loss"], run_code=1)
    assert run_drill("file:///x", "m", paths, TWO, train=False, **NO_LOAD_SEARCH, step=fake) == 1
    assert "zone-loss.json does not exist" in paths.summary.read_text()


def test_unknown_experiment_is_a_usage_error_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, [])
    assert (
        run_drill("file:///x", "m", paths, ["zone-los"], train=False, **NO_LOAD_SEARCH, step=fake)
        == EXIT_USAGE
    )
    assert fake.steps == []
    assert "zone-los" in capsys.readouterr().err


def test_run_command_exits_1_when_a_run_was_killed_at_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments import cli, runner

    journal = f.write_journal(tmp_path, f.clean_journal(), name="zone-loss")
    killed = runner.RunResult("zone-loss", journal, None, 600.0)
    monkeypatch.setattr(runner, "run_catalog", lambda *a, **k: [killed])
    deployment = str(write_deployment(tmp_path))  # run reads it for the pre-flight
    assert cli.main(["run", "--deployment", deployment, "--journals", str(tmp_path)]) == 1
    assert "killed at the run timeout: zone-loss" in capsys.readouterr().err


def test_the_drill_command_refuses_an_unknown_experiment_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments.drill import main

    out = tmp_path / "drill"
    argv = ["--store", f"file://{tmp_path}/store", "--no-train", "--out", str(out), "nope"]
    assert main(argv) == EXIT_USAGE
    assert "unknown experiment(s) nope" in capsys.readouterr().err
    assert not out.exists()


def test_environment_options_reach_the_up_step_only(tmp_path: Path) -> None:
    paths = DrillPaths(tmp_path / "drill")
    seen: dict[str, list[str]] = {}

    def step(title: str, argv: list[str]) -> int:
        seen[title] = argv
        return 1 if title.startswith("bring the local environment up") else 0

    code = run_drill(
        "file:///nowhere", "recommender", paths, ["zone-loss"], train=False, step=step,
        env_args=("--standby", "0"),
    )  # fmt: skip
    assert code == 1
    up = seen["bring the local environment up"]
    assert up[-2:] == ["--standby", "0"]
    assert "--standby" not in seen["bring the local environment down"]


def test_the_catalog_runs_at_half_the_measured_capacity_and_the_summary_says_so(
    tmp_path: Path,
) -> None:
    code, fake, paths = _drill(tmp_path, TWO, write=TWO)
    assert code == 0
    run = dict(fake.steps)["run the experiment catalog"]
    assert run[run.index("--load-rps") + 1] == "100.0"
    assert run[run.index("--capacity-rps") + 1] == "200.0"
    summary = paths.summary.read_text()
    assert "load: 100 rps = 50% of 200 rps capacity" in summary
    assert "detection: not checked: prometheus is not on the PATH" in summary
    sidecar = json.loads(alerts_path(paths.journals / "zone-loss.json").read_text())
    assert sidecar == {"checked": False, "reason": "prometheus is not on the PATH"}


class FakeDrillWithEnvironment(FakeDrill):
    """``up`` writes the deployment description a real environment would."""

    def __call__(self, title: str, argv: list[str]) -> int:
        if title == "bring the local environment up":
            self.paths.env.mkdir(parents=True, exist_ok=True)
            self.paths.deployment.write_text(write_deployment(self.paths.env).read_text())
        return super().__call__(title, argv)


def test_zone_and_replica_experiments_get_the_design_peak_of_the_deployment(
    tmp_path: Path,
) -> None:
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrillWithEnvironment(paths, TWO)
    assert run_drill("file:///x", "m", paths, TWO, train=False, **NO_LOAD_SEARCH, step=fake) == 0
    run = dict(fake.steps)["run the experiment catalog"]
    # 200 rps over 6 active replicas, 5 of them (with the standby) left after a zone, less 15%
    assert run[run.index("--peak-rps") + 1] == str(round(200 / 6 * 5 * 0.85, 1))
    assert "design peak 142 rps = 200 rps / 6 active" in paths.summary.read_text()
    assert run[run.index("--replica-capacity-rps") + 1] == str(round(200 / 6, 1))


def test_a_capacity_that_cannot_be_measured_fails_before_the_catalog(tmp_path: Path) -> None:
    def unmeasurable(paths: DrillPaths, step_s: float) -> Capacity:
        raise CapacityError("no load step stayed within the 250 ms p99 budget")

    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, TWO)
    conditions = {**NO_LOAD_SEARCH, "measure": unmeasurable}
    assert run_drill("file:///x", "m", paths, TWO, train=False, **conditions, step=fake) == 1
    assert fake.titles() == ["bring the local environment up", "bring the local environment down"]


class FakeMonitor:
    """A Prometheus that saw ``episodes`` (shifted to each journal's fault start)."""

    url = "http://127.0.0.1:9090"

    def __init__(self, after_fault_s: list[float]) -> None:
        self.after_fault_s = after_fault_s
        self.stopped = False
        self.quiet_waits = 0

    def wait_quiet(self, timeout_s: float = 60.0) -> float:
        self.quiet_waits += 1
        return 0.0

    def timeline(self, since: float, until: float | None = None) -> list[AlertEpisode]:
        window = fault_window(f.clean_journal(), 0.0)
        assert window is not None
        start, end = window
        alert = "RecdrillZoneActiveCapacityLow"
        return [
            AlertEpisode(alert, {"zone": "a"}, start, start + s, end + 2)
            for s in self.after_fault_s
        ]

    def stop(self) -> None:
        self.stopped = True


def _expecting_capacity_alert() -> dict[str, Any]:
    journal = f.clean_journal()
    expected = ExpectedAlert("RecdrillZoneActiveCapacityLow", within_s=60.0)
    journal["experiment"]["configuration"]["expected_alerts"] = [expected.to_json()]
    return journal


@pytest.mark.parametrize(("fired_after_s", "passed"), [([0.5], True), ([], False)])
def test_with_prometheus_an_expected_alert_that_never_fired_fails_the_drill(
    tmp_path: Path, fired_after_s: list[float], passed: bool
) -> None:
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, ["zone-loss"], journal=_expecting_capacity_alert)
    monitor = FakeMonitor(fired_after_s)
    conditions = {"measure": _measured, "monitoring": lambda _: monitor}
    code = run_drill("file:///x", "m", paths, ["zone-loss"], train=False, **conditions, step=fake)
    assert (code == 0) is passed
    assert monitor.stopped and monitor.quiet_waits == 1  # before the first fault only
    summary = paths.summary.read_text()
    assert f"detection: checked with Prometheus at {monitor.url}" in summary
    if not passed:
        assert "RecdrillZoneActiveCapacityLow" in summary and "never fired" in summary


def test_env_args_on_the_command_line_reach_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import experiments.drill as drill

    seen: dict[str, object] = {}
    monkeypatch.setattr(drill, "run_drill", lambda *a, **kw: seen.update(kw) or 0)
    argv = ["--store", "file:///x", "--out", str(tmp_path), "--no-train"]
    argv += ["--env-arg=--reschedule-delay=8", "--env-arg=--standby=0", "zone-loss"]
    assert drill.main(argv) == 0
    assert seen["env_args"] == ("--reschedule-delay=8", "--standby=0")


def test_the_drill_command_refuses_a_load_fraction_over_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from experiments.drill import main

    argv = ["--store", "file:///x", "--out", str(tmp_path), "--load-fraction", "1.5"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "must be in (0, 1]" in capsys.readouterr().err


def test_an_unreadable_alert_timeline_fails_the_drill_and_says_so(tmp_path: Path) -> None:
    class DeadPrometheus(FakeMonitor):
        def timeline(self, since: float, until: float | None = None) -> list[AlertEpisode]:
            raise PrometheusQueryError("GET /api/v1/query_range: connection refused")

    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, ["zone-loss"], journal=_expecting_capacity_alert)
    conditions = {"measure": _measured, "monitoring": lambda _: DeadPrometheus([])}
    code = run_drill("file:///x", "m", paths, ["zone-loss"], train=False, **conditions, step=fake)
    assert code == 1
    assert "not checked: the alert timeline could not be read" in paths.summary.read_text()


def test_the_catalog_time_counts_running_the_experiments_and_says_the_switch_apart() -> None:
    from experiments.drill import catalog_time_line

    assert catalog_time_line(200.04, {}) == (
        "catalog time: 200.0 s running the experiments (single-region 200.0 s)"
    )
    line = catalog_time_line(200.0, {"experiments": 80.0, "environment": 25.0})
    assert line.startswith("catalog time: 280.0 s running the experiments")
    assert "two-region 80.0 s" in line and "25.0 s switching to the two regions" in line


def test_the_regional_phase_times_its_experiments_apart_from_its_environment(
    tmp_path: Path,
) -> None:
    import time

    from experiments.drill_regions import run_regional_phase

    took = {"bring two regions up": 0.3, "run the region experiments": 0.2}

    def step(title: str, argv: list[str]) -> int:
        time.sleep(took.get(title, 0.1))
        return 0

    timings: dict[str, float] = {}
    code = run_regional_phase(
        step, "python", "file:///x", "m", tmp_path / "env", tmp_path, ["region-loss"],
        {"load_rps": 100.0},
        timings=timings,
    )  # fmt: skip
    assert code == 0
    assert 0.2 <= timings["experiments"] < 0.3  # the run (no Prometheus: nothing to settle)
    assert 0.4 <= timings["environment"] < 0.6  # up and down
