"""Hypotheses can fail: on a deployment without zone redundancy, zone-loss deviates.

The broken deployment has one zone, no standby and router retries off. Losing that zone
leaves the router nothing to fail over to, so users get degraded answers and the steady
state must fail during the loss. (Retries off on its own is not enough on a 3-zone
deployment: the router's discovery and passive ejection limit the damage to about one
degraded answer per loss, well inside the SLO; see docs/experiments.md.)
"""

from __future__ import annotations

import json

import pytest

from tests.experiments.local_env import LocalEnvironment

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def test_zone_loss_deviates_on_a_deployment_without_zone_redundancy(tmp_path):
    env = LocalEnvironment(tmp_path, "--zones", "1", "--standby", "0", "--router-retries", "0")
    try:
        # a light load: two 40m replicas carry about 80 rps, and the "after" check must
        # judge the recovered deployment, not one run near its capacity
        done = env.run(tmp_path / "journals", "--load-rps", "30", "zone-loss")
    finally:
        env.close()
    assert done.returncode == 0, done.stderr[-2000:]
    journal = json.loads((tmp_path / "journals" / "zone-loss.json").read_text())
    states = journal["steady_states"]
    assert states["before"]["steady_state_met"] is True
    failed = [s for s in states["during"] if not s["steady_state_met"]]
    assert failed, "zone-loss did not deviate during the loss"
    windows = [
        p["output"]
        for s in failed
        for p in s["probes"]
        if p["activity"]["name"] == "slo-window" and p["tolerance_met"] is False
    ]
    assert windows, "the deviation was not seen by the SLO window"
    assert any(w["errors"] or w["degraded_ratio"] > 0.05 for w in windows)
    assert states["after"]["steady_state_met"] is True
