"""The design peak: what the topology claims through the loss of its largest zone."""

from __future__ import annotations

import pytest

from experiments.design_peak import design_peak

DEFAULT = {"zones": ["a", "b", "c"], "replicas_per_zone": 2, "standby_replicas": 1}


def test_three_zones_of_two_with_one_standby_carry_five_sixths_less_the_margin():
    peak = design_peak(800.0, DEFAULT)
    assert peak.survivors == 5
    assert peak.rps == pytest.approx(800 / 6 * 5 * 0.85, abs=0.1)
    assert "800 rps / 6 active × (6 − 2 in the largest zone + 1 standby)" in peak.line()
    assert peak.replica_capacity_rps == pytest.approx(133.3)


def test_without_the_standby_the_same_capacity_claims_less():
    healthy = design_peak(800.0, DEFAULT)
    bare = design_peak(800.0, {**DEFAULT, "standby_replicas": 0})
    # the no-standby deployment's survivors carry only 4/6: held at the healthy peak,
    # they run past what they can carry, which is what the sensitivity matrix shows
    assert bare.rps < healthy.rps
    assert healthy.rps > 800 / 6 * 4


@pytest.mark.parametrize(
    ("capacity", "topology", "message"),
    [
        (0.0, DEFAULT, "capacity must be positive"),
        (800.0, {"zones": [], "replicas_per_zone": 2}, "no active replicas"),
    ],
)
def test_bad_inputs_are_named(capacity, topology, message):
    with pytest.raises(ValueError, match=message):
        design_peak(capacity, topology)
