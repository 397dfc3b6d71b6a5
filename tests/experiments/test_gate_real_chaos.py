"""Real ``chaos run`` journals through the real gate CLI: where chaos exits 0, the gate does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.experiments.journals import factories as f

ROOT = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).with_name("chaos")


def _chaos_run(tmp_path: Path, experiment: dict, name: str) -> tuple[int, Path]:
    spec = tmp_path / f"{name}.experiment.json"
    spec.write_text(json.dumps(experiment))
    journal = tmp_path / f"{name}.json"
    env = {**os.environ, "PYTHONPATH": str(f.HERE)}
    proc = subprocess.run(
        [str(CHAOS), "--no-log-file", "run", "--journal-path", str(journal), str(spec)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert journal.exists(), proc.stderr.decode()[-2000:]
    return proc.returncode, journal


def _gate(*journals: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "experiments.gate", *map(str, journals)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _experiment() -> dict:
    return json.loads(f.EXPERIMENT.read_text())


def _kill_action_fails(exp: dict) -> None:
    exp["method"][1]["provider"]["arguments"]["fail"] = True


def _availability_low(exp: dict) -> None:
    exp["steady-state-hypothesis"]["probes"][0]["provider"]["arguments"]["value"] = 0.5


def _rollback_fails(exp: dict) -> None:
    exp["rollbacks"][0]["provider"]["arguments"]["fail"] = True


@pytest.mark.parametrize(
    ("mutate", "phase", "subject"),
    [
        (_kill_action_fails, "method", "activity 'kill-replica'"),
        (_availability_low, "before", "probe 'availability-within-slo'"),
        (_rollback_fails, "rollbacks", "activity 'restore-zone'"),
    ],
    ids=["method-action-failed", "before-failed", "rollback-failed"],
)
def test_chaos_exits_0_but_the_gate_fails(tmp_path: Path, mutate, phase: str, subject: str) -> None:
    experiment = _experiment()
    mutate(experiment)
    chaos_code, journal = _chaos_run(tmp_path, experiment, "replica-loss")
    assert chaos_code == 0  # the hole: chaos run's exit code says all is well
    gate = _gate(journal)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "FAIL replica-loss" in gate.stdout
    assert f"  {phase}: {subject}: " in gate.stdout


def test_a_clean_real_run_passes(tmp_path: Path) -> None:
    chaos_code, journal = _chaos_run(tmp_path, _experiment(), "replica-loss")
    assert chaos_code == 0
    gate = _gate(journal)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert gate.stdout.strip() == "PASS replica-loss"
