"""The drill's own verdict: expected experiments, missing journals, the catalog's exit code.

The environment and catalog steps are small fakes (a real local environment is the
integration tests' business); the gate step runs the real ``python -m experiments gate``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from experiments import catalog
from experiments.drill import EXIT_USAGE, DrillPaths, _step, run_drill
from tests.experiments.fakes import write_deployment
from tests.experiments.journals import factories as f

TWO = ["replica-loss", "zone-loss"]


class FakeDrill:
    """Plays every step but the gate; the catalog step writes clean journals for ``write``."""

    def __init__(self, paths: DrillPaths, write: list[str], run_code: int = 0) -> None:
        self.paths, self.write, self.run_code = paths, write, run_code
        self.steps: list[tuple[str, list[str]]] = []

    def __call__(self, title: str, argv: list[str]) -> int:
        self.steps.append((title, argv))
        if title.startswith("gate"):
            return _step(title, argv)
        if title.startswith("run the experiment catalog"):
            self.paths.journals.mkdir(parents=True, exist_ok=True)
            for name in self.write:
                f.write_journal(self.paths.journals, f.clean_journal(), name=name)
            return self.run_code
        return 0

    def titles(self) -> list[str]:
        return [title for title, _ in self.steps]


def _drill(tmp_path: Path, names: list[str], write: list[str], run_code: int = 0):
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, write, run_code)
    code = run_drill("file:///nowhere", "recommender", paths, names, train=False, step=fake)
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

    assert run_drill("file:///x", "m", paths, [], train=False, step=step) == 0
    gated = [Path(a).stem for a in seen["gate the journals"] if a.endswith(".json")]
    assert gated == catalog.names("local")
    assert seen["run the experiment catalog"][-len(gated) :] == gated


def test_stale_journals_do_not_stand_in_for_this_run(tmp_path: Path) -> None:
    paths = DrillPaths(tmp_path / "drill")
    paths.journals.mkdir(parents=True)
    f.write_journal(paths.journals, f.clean_journal(), name="zone-loss")
    fake = FakeDrill(paths, ["replica-loss"], run_code=1)
    assert run_drill("file:///x", "m", paths, TWO, train=False, step=fake) == 1
    assert "zone-loss.json does not exist" in paths.summary.read_text()


def test_unknown_experiment_is_a_usage_error_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = DrillPaths(tmp_path / "drill")
    fake = FakeDrill(paths, [])
    assert run_drill("file:///x", "m", paths, ["zone-los"], train=False, step=fake) == EXIT_USAGE
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
