"""recdrill installs like the tools it sits beside: one console script, chaos from anywhere.

These run the installed entry points from a directory outside the checkout with no
PYTHONPATH, the way a user with the venv activated would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recdrill.cli import BENCHES, COMMANDS, resolve
from tests.experiments.fakes import write_deployment

BIN = Path(sys.executable).parent


def _outside(tmp_path: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        list(argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_every_subcommand_resolves_to_a_module_with_main() -> None:
    import importlib

    for name in COMMANDS:
        argv = [name, next(iter(BENCHES))] if name == "bench" else [name]
        module, _ = resolve(argv)
        assert callable(importlib.import_module(module).main), name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "a subcommand is required"),
        (["nope"], "unknown subcommand 'nope'"),
        (["bench", "nope"], "needs one of"),
    ],
)
def test_bad_subcommands_exit_2_naming_the_problem(tmp_path: Path, argv, message) -> None:
    result = _outside(tmp_path, str(BIN / "recdrill"), *argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_runs_a_subcommand_outside_the_checkout(tmp_path: Path) -> None:
    deployment = write_deployment(tmp_path)
    result = _outside(
        tmp_path,
        str(BIN / "recdrill"),
        "experiments",
        "render",
        "--deployment",
        str(deployment),
        "--out",
        "rendered",
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rendered" / "replica-loss.json").is_file()
    assert (tmp_path / "rendered" / "vars.json").is_file()


def test_chaos_validates_and_runs_a_rendered_experiment_from_anywhere(tmp_path: Path) -> None:
    deployment = write_deployment(tmp_path)
    rendered = tmp_path / "rendered"
    render = _outside(
        tmp_path,
        str(BIN / "recdrill"),
        "experiments",
        "render",
        "--deployment",
        str(deployment),
        "--out",
        str(rendered),
        "replica-loss",
    )
    assert render.returncode == 0, render.stderr
    experiment = rendered / "replica-loss.json"

    validate = _outside(
        tmp_path,
        str(BIN / "chaos"),
        "--no-version-check",
        "--no-log-file",
        "validate",
        str(experiment),
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "could not find Python module" not in validate.stdout + validate.stderr

    # Nothing listens at the deployment's endpoint: the steady state fails, but only after
    # chaoslib imported and ran our probe, which is what this checks.
    journal = tmp_path / "journal.json"
    _outside(
        tmp_path,
        str(BIN / "chaos"),
        "--no-version-check",
        "--no-log-file",
        "run",
        "--journal-path",
        str(journal),
        "--var-file",
        str(rendered / "vars.json"),
        str(experiment),
    )
    body = json.loads(journal.read_text())
    probes = body["steady_states"]["before"]["probes"]
    assert probes, "the steady-state probes never ran"
    text = json.dumps(body)
    assert "could not find Python module" not in text
    assert "ModuleNotFoundError" not in text


def test_chaos_discover_lists_the_faults_and_probes_with_their_docs(tmp_path: Path) -> None:
    result = _outside(
        tmp_path,
        str(BIN / "chaos"),
        "--no-version-check",
        "--no-log-file",
        "discover",
        "--no-install",
        "--no-system-info",
        "--discovery-path",
        "discovery.json",
        "chaostoolkit-recdrill",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    activities = json.loads((tmp_path / "discovery.json").read_text())["activities"]
    kinds = {a["type"] for a in activities}
    assert kinds == {"action", "probe"}
    modules = {a["mod"] for a in activities}
    assert any(m.startswith("experiments.probes.") for m in modules)
    assert all(a["doc"] for a in activities), [a["name"] for a in activities if not a["doc"]]
