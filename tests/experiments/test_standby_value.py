"""What the standby buys: zone-loss with and without it, priced per stack."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from experiments.report_cli import standby_pair_value
from experiments.standby_value import (
    CHECK_NAME,
    compare,
    standby_costs,
    standby_html,
    standby_markdown,
    zone_loss_run,
)
from infra.aws.sizing import sizing
from tests.experiments.journals.factories import clean_journal, exception_lines, write_journal


def _zone_loss(directory: Path, standby: int, check: dict[str, Any]) -> Path:
    journal = clean_journal()
    journal["experiment"]["configuration"]["standby_replicas"] = standby
    entry = copy.deepcopy(journal["run"][-1])
    entry["activity"] = {**entry["activity"], "name": CHECK_NAME}
    entry.update(check)
    journal["run"].insert(-1, entry)
    journal["experiment"]["method"].insert(-1, entry["activity"])
    directory.mkdir(parents=True, exist_ok=True)
    return write_journal(directory, journal, "zone-loss")


def _carried(seconds: float) -> dict[str, Any]:
    output = {"judged": True, "below_capacity_s": seconds, "budget_s": 3.0}
    return {"status": "succeeded", "output": output}


def _short(message: str) -> dict[str, Any]:
    return {"status": "failed", "output": None, "exception": exception_lines(message)}


def test_the_pair_shows_time_below_capacity_and_the_standby_price(tmp_path: Path) -> None:
    with_standby = _zone_loss(tmp_path / "healthy", 1, _carried(0.2))
    without = _zone_loss(
        tmp_path / "no-standby",
        0,
        _short("below capacity for 11.8 s after the fault, budget 3 s (142 rps …)"),
    )
    value = compare(with_standby, without)
    assert value.with_standby.below_capacity_s == 0.2
    assert value.without.below_capacity_s == 11.8
    assert value.without.standby_replicas == 0
    text = standby_markdown(value)
    assert "| with the standby (1 standby) | passed |" in text
    assert "11.8 s: over its budget" in text
    prod = sizing("prod")
    assert f"| prod | 3 | {prod.standby_usd_per_hour:.2f} |" in text
    page = standby_html(value)
    assert "id='standby'" in page and "0.2 s (budget 3 s)" in page


def test_a_check_that_never_saw_the_load_carried_says_so(tmp_path: Path) -> None:
    path = _zone_loss(tmp_path, 0, _short("carried less … for the whole 30 s watched: 4.00"))
    run = zone_loss_run(path, "without")
    assert run.below_capacity_s == 30.0
    assert run.below_capacity_text == "≥ 30 s: never carried while watched"


def test_unjudged_and_older_journals_are_not_given_a_figure(tmp_path: Path) -> None:
    unjudged = _zone_loss(tmp_path / "a", 1, {"status": "succeeded", "output": {"judged": False}})
    assert zone_loss_run(unjudged, "x").below_capacity_text == "not judged: no measured capacity"
    older = write_journal(tmp_path, clean_journal(), "zone-loss")
    run = zone_loss_run(older, "x")
    assert run.below_capacity_s is None and "not checked" in run.below_capacity_text


def test_a_journal_of_another_experiment_is_refused(tmp_path: Path) -> None:
    other = write_journal(tmp_path, clean_journal(), "replica-loss")
    with pytest.raises(ValueError, match="not a zone-loss journal"):
        zone_loss_run(other, "x")


def test_every_eks_stack_is_priced() -> None:
    costs = {c.stack: c for c in standby_costs()}
    assert set(costs) == {"dev", "staging", "prod", "prod-dr"}
    assert all(0 < c.usd_per_hour < c.stack_usd_per_hour for c in costs.values())


def test_the_report_pairs_only_what_it_can_read(tmp_path: Path, capsys) -> None:
    own = _zone_loss(tmp_path / "own", 1, _carried(0.1))
    assert standby_pair_value(own, None) is None
    assert standby_pair_value(own, tmp_path / "missing.json") is None
    assert "no journal at" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert standby_pair_value(own, bad) is None
    assert "not shown" in capsys.readouterr().err


def test_the_drill_report_shows_the_pair_only_when_given_one(tmp_path: Path) -> None:
    from experiments.outcome import build_outcome
    from experiments.report import render_report

    own = _zone_loss(tmp_path / "own", 1, _carried(0.1))
    without = _zone_loss(tmp_path / "without", 0, _short("below capacity for 9.0 s after"))
    outcomes = [build_outcome(own)]
    assert "id='standby'" not in render_report(outcomes)
    page = render_report(outcomes, standby=standby_pair_value(own, without))
    assert "What the standby buys, and what it costs" in page
    assert "9.0 s: over its budget" in page
