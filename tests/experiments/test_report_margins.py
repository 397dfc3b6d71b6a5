"""Margins against the SLO: the first screen's colours and words."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.outcome import build_outcome
from experiments.report_margins import (
    availability_margin,
    degraded_margin,
    experiment_row,
    level_for,
    p99_margin,
)
from tests.experiments.journals import factories as f


@pytest.mark.parametrize(
    ("used", "level"),
    [
        (None, "unknown"),
        (0.0, "ok"),
        (0.79, "ok"),
        (0.8, "thin"),
        (1.0, "thin"),
        (1.01, "breached"),
    ],
)
def test_level_for_budget_share(used: float | None, level: str) -> None:
    assert level_for(used) == level


def test_p99_margin_words_and_levels() -> None:
    assert p99_margin(24.4, 250).text == "p99 24 ms of 250 ms"
    assert p99_margin(24.4, 250).level == "ok"
    assert p99_margin(210, 250).level == "thin"  # within 20% of the limit
    assert p99_margin(251, 250).level == "breached"
    assert p99_margin(None, 250).text == "p99 not measured of 250 ms"


def test_availability_margin_is_judged_on_the_error_budget() -> None:
    assert availability_margin(1.0, 0.999).text == "availability 100.00% of ≥ 99.9%"
    assert availability_margin(1.0, 0.999).level == "ok"
    # 99.91% is within 20% of 99.9% as a number, but uses 90% of the error budget.
    assert availability_margin(0.9991, 0.999).level == "thin"
    assert availability_margin(0.998, 0.999).level == "breached"


def test_degraded_margin_with_a_zero_budget() -> None:
    assert degraded_margin(0.0, 0.0).level == "ok"
    assert degraded_margin(0.01, 0.0).level == "breached"


def _outcome(tmp_path: Path, journal: dict, **series):
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, f.make_timeseries(journal, **series))
    return build_outcome(path)


def test_row_of_a_breach_that_recovers(tmp_path: Path) -> None:
    row = experiment_row(_outcome(tmp_path, f.clean_journal(), breach=(0.3, 1.5)))
    assert row.recovery.text == "1.5 s of 30 s RTO" and row.recovery.level == "ok"
    assert row.fault == "kill-replica"
    assert row.detect == "not checked"
    assert row.load == "not recorded"
    assert row.worst == "breached"  # errors during the breach used the availability budget


def test_row_of_a_slow_and_a_lost_recovery(tmp_path: Path) -> None:
    journal = f.clean_journal()
    journal["experiment"]["configuration"]["slo"]["rto_s"] = 5
    slow = experiment_row(_outcome(tmp_path, journal, breach=(0.3, 4.5), length_s=12))
    assert slow.recovery.level == "thin"
    lost = experiment_row(_outcome(tmp_path, journal, breach=(0.3, None)))
    assert lost.recovery.level == "breached" and lost.recovery.text.startswith("not recovered")


def test_row_without_a_breach(tmp_path: Path) -> None:
    row = experiment_row(_outcome(tmp_path, f.clean_journal(), breach=None))
    assert row.recovery.text == "0 s: SLO held through the fault"
    assert [m.level for m in row.margins] == ["ok", "ok", "ok"]
    assert row.margins[0].text == "p99 20 ms of 250 ms"


def test_load_and_its_share_of_the_measured_capacity(tmp_path: Path) -> None:
    journal = f.clean_journal()
    journal["experiment"]["configuration"]["ssh_rate_rps"] = 35.0
    assert experiment_row(_outcome(tmp_path, journal)).load == "35 rps (capacity not measured)"
    journal["experiment"]["configuration"]["capacity_rps"] = 70.0
    assert experiment_row(_outcome(tmp_path, journal)).load == "35 rps = 50% of 70 rps capacity"
    journal["experiment"]["configuration"]["load_basis"] = "design peak"
    assert experiment_row(_outcome(tmp_path, journal)).load == (
        "35 rps = 50% of 70 rps capacity (design peak: the load the topology claims through "
        "a zone's loss)"
    )


def test_time_to_detect_where_an_activity_measures_it(tmp_path: Path) -> None:
    journal = f.clean_journal()
    journal["run"][2]["output"] = {"alert": "RecdrillCapacityLow", "detected_s": 4.25}
    assert experiment_row(_outcome(tmp_path, journal)).detect == "4.2 s"


def test_a_load_spike_names_its_load_as_the_fault(tmp_path: Path) -> None:
    journal = f.clean_journal()
    journal["experiment"]["method"] = [
        {"type": "action", "name": "traffic-spike", "provider": {"func": "spike_traffic"}},
        {"type": "probe", "name": "baseline", "provider": {"func": "hold"}},
    ]
    journal["experiment"]["configuration"].update(ssh_rate_rps=35.0, spike_rate_rps=105.0)
    row = experiment_row(_outcome(tmp_path, journal))
    assert row.fault == "load: traffic-spike"
    assert row.load == "35 rps; spike 105 rps (capacity not measured)"


def test_an_experiment_with_its_own_budget_is_measured_against_it(tmp_path: Path) -> None:
    """serving-outage drills every answer falling back: its half-degraded recording is
    within its declared outage budget, where the everyday SLO's 5% would call it a breach."""
    journal = f.clean_journal()
    everyday = experiment_row(_outcome(tmp_path, journal, breach_kind="degraded"))
    assert everyday.margins[2].level == "breached"
    journal["experiment"]["configuration"].update(
        outage_max_degraded_ratio=1.0, outage_p99_ms=1000.0
    )
    own = experiment_row(_outcome(tmp_path, journal, breach_kind="degraded"))
    assert own.margins[2].level != "breached" and own.margins[2].text.endswith("of ≤ 100%")
    assert own.margins[0].text.endswith("of 1000 ms")
    journal["experiment"]["configuration"]["failover_availability"] = 0.99
    assert experiment_row(_outcome(tmp_path, journal)).margins[1].text.endswith("≥ 99%")
