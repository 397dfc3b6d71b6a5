"""zone-loss keeps the zone down long enough for its expected alert to be able to fire."""

from __future__ import annotations

import pytest

from experiments import catalog
from experiments.deployment import configuration_for
from monitoring.settings import RuleSettings
from tests.experiments.fakes import deployment


@pytest.mark.parametrize("platform", ["local", "kubernetes"])
def test_the_zone_stays_down_longer_than_the_capacity_alert_holds(platform, tmp_path) -> None:
    body = catalog.build("zone-loss", configuration_for(deployment(platform), tmp_path / "d"))
    hold = float(body["configuration"]["zone_hold_s"])
    held = RuleSettings().for_drill().capacity_for
    assert held.endswith("s") and held[:-1].isdigit(), held
    alert_hold = float(held[:-1])
    # A scrape and an evaluation (1 s each in the drill) come before the hold starts.
    assert hold >= alert_hold + 2, (hold, alert_hold)
