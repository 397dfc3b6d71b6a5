"""The zone-loss bench's verdicts: each target can fail, and the hang scenario has its own."""

from __future__ import annotations

import pytest

from bench.zone_loss import TARGETS, _met, main


def good(scenario: str = "zone-loss") -> dict:
    return {
        "scenario": scenario,
        "failed": 0,
        "degraded_ratio": 0.0,
        "p99_ms": 40.0,
        "detection_s": 0.3,
        "capacity_back_s": 6.0,
    }


def test_a_run_within_every_target_meets_them_all():
    assert all(_met(good()).values())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("failed", 1),
        ("degraded_ratio", 0.02),
        ("p99_ms", 101.0),
        ("detection_s", 1.2),
        ("capacity_back_s", 15.5),
        ("capacity_back_s", None),  # never came back within the watch
        ("p99_ms", None),
    ],
)
def test_each_target_fails_on_its_breakage(key, value):
    assert _met(good() | {key: value})[key] is False


def test_a_hung_replica_gets_the_200_ms_budget_and_no_more():
    assert TARGETS["p99_ms"]["zone-loss+hang"] == 200.0
    assert _met(good("zone-loss+hang") | {"p99_ms": 150.0})["p99_ms"] is True
    assert _met(good("zone-loss+hang") | {"p99_ms": 201.0})["p99_ms"] is False


def test_bad_runs_count_is_a_clean_cli_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--runs", "0"])
    assert exc.value.code == 2 and "--runs must be at least 1" in capsys.readouterr().err
