"""A tripped safeguard stops a real running experiment, rolls back and leaves it whole.

A small real local environment: 3 zones × 1 replica, no standby, and a router without
its degraded fallback, so nothing can hide the harm. slow-replica runs at blast radius
3 (``--set blast_replicas=3``): every active replica hangs (SIGSTOP), users get errors,
and the safeguard at its default lines (availability 0.8, two 1 s windows in a row)
trips during the hold and interrupts the method before its own thaw step. The rollback
must thaw them, the state file must hold nothing pending, the ready capacity must be
what it was, and the gate must say the safeguard stopped it, with the figure.

At blast radius 1 this router hides a hung replica within half a second (health checks
every 0.25 s), which is why the escalation starts there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import state
from experiments.deployment import configuration_for, load_deployment
from experiments.faults.local import ready_capacity
from tests.experiments.local_env import LocalEnvironment, run_module

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _process_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (``T``: stopped by SIGSTOP)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _replica_pids(config: dict) -> list[int]:
    from experiments.faults.local import _control

    with _control(config, None) as control:
        listing = control.view(None)
    return [r["pid"] for r in listing["replicas"] if r.get("pid")]


@pytest.fixture(scope="module")
def tripped(tmp_path_factory):
    root = tmp_path_factory.mktemp("safeguard")
    env = LocalEnvironment(
        root, "--replicas-per-zone", "1", "--standby", "0", "--router-fallback", "off"
    )
    try:
        config = configuration_for(load_deployment(env.deployment_file), env.deployment_file)
        before = ready_capacity("", config)
        journals = root / "journals"
        done = run_module(
            "experiments",
            "run",
            "--deployment",
            str(env.deployment_file),
            "--journals",
            str(journals),
            "slow-replica",
            "--set",
            "blast_replicas=3",
            # The subject is the safeguard, so the SLO's p99 is the safeguard's own line:
            # three replicas beside another test worker once missed 250 ms (318 ms) in
            # the window *before* the fault, which ends the run before anything trips.
            "--set",
            "slo_p99_ms=2000",
            timeout=240,
        )
        after = ready_capacity("", config)
        pids = _replica_pids(config)
        gate = run_module("experiments", "gate", str(journals / "slow-replica.json"))
        yield journals, done, before, after, pids, gate
    finally:
        env.close()


def test_safeguard_interrupts_the_method_after_the_fault(tripped):
    journals, done, *_ = tripped
    assert done.returncode == 0, done.stderr[-2000:]
    journal = json.loads((journals / "slow-replica.json").read_text())
    assert journal["status"] == "interrupted"
    ran = [r["activity"]["name"] for r in journal["run"]]
    assert "freeze-one-replica" in ran  # the fault was injected…
    assert "resume-replica" not in ran  # …and the method never reached its own thaw
    record = next(
        e for e in journal["experiment"]["extensions"] if e["name"] == "recdrill-safeguard"
    )
    assert record["tripped"] is True
    assert record["reason"].startswith("availability ")
    assert record["figures"]["availability"] < 0.8


def test_every_rollback_ran_and_the_environment_is_whole(tripped):
    journals, _, before, after, pids, _ = tripped
    journal = json.loads((journals / "slow-replica.json").read_text())
    rollbacks = {r["activity"]["name"]: r["status"] for r in journal["rollbacks"]}
    assert rollbacks == {"resume-replica": "succeeded"}
    assert [p for p in pids if _process_state(p) == "T"] == []
    assert after["ready"] == before["ready"] and after["zones"] == before["zones"]
    state_file = journal["experiment"]["configuration"]["state_file"]
    assert state.pending(state_file) == []


def test_gate_fails_it_as_stopped_by_safeguard_with_the_figure(tripped):
    *_, gate = tripped
    assert gate.returncode == 1
    lines = gate.stdout.splitlines()
    assert lines[0] == "FAIL slow-replica"
    assert lines[1].startswith("  safeguard: stopped by safeguard: availability "), gate.stdout
