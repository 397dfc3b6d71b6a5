"""The sensitivity matrix's bookkeeping: caught, missed, false alarms, and its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import catalog
from experiments.sensitivity import (
    DEPTH_PAIRS,
    HEALTHY,
    WEAKENINGS,
    Weakening,
    failed_experiments,
    markdown,
    run_matrix,
    select,
    write_results,
)


def _junit(path: Path, results: dict[str, bool]) -> None:
    cases = "".join(
        f'<testcase name="{name}">' + ("" if ok else '<failure message="x"/>') + "</testcase>"
        for name, ok in results.items()
    )
    path.mkdir(parents=True, exist_ok=True)
    (path / "junit.xml").write_text(f"<testsuites><testsuite>{cases}</testsuite></testsuites>")


def _fake_drill(outcomes: dict[str, dict[str, bool] | int]):
    calls = []

    def drill(weakening: Weakening, where: Path, names: list[str]) -> int:
        calls.append((weakening.name, names))
        result = outcomes[weakening.name]
        if isinstance(result, int):
            return result
        _junit(where, result)
        return 0 if all(result.values()) else 1

    return drill, calls


def test_a_caught_weakening_and_a_passing_healthy_run_are_ok(tmp_path: Path) -> None:
    weak = WEAKENINGS[0]
    drill, calls = _fake_drill(
        {weak.name: {"replica-loss": False, "zone-loss": True}, "healthy": {"zone-loss": True}}
    )
    rows = run_matrix([weak], tmp_path, drill)
    assert [r.ok for r in rows] == [True, True]
    assert rows[0].failed == ["replica-loss"]
    assert calls == [(weak.name, list(weak.expected)), ("healthy", [])]


def test_a_weakening_no_experiment_catches_is_missed(tmp_path: Path) -> None:
    weak = WEAKENINGS[1]
    drill, _ = _fake_drill({weak.name: {"slow-replica": True}, "healthy": {"slow-replica": True}})
    rows = run_matrix([weak], tmp_path, drill)
    assert rows[0].ok is False
    assert "**no**" in markdown(rows)


def test_a_healthy_deployment_that_fails_is_a_false_alarm(tmp_path: Path) -> None:
    drill, _ = _fake_drill({"healthy": {"zone-loss": False}})
    (row,) = run_matrix([], tmp_path, drill)
    assert row.weakening is HEALTHY and row.ok is False


def test_an_environment_that_never_came_up_is_reported_as_such(tmp_path: Path) -> None:
    weak = WEAKENINGS[8]
    drill, _ = _fake_drill({weak.name: 3, "healthy": {"store-outage": True}})
    rows = run_matrix([weak], tmp_path, drill)
    assert rows[0].deploy_failed and rows[0].ok
    assert "did not come up: exit 3" in markdown(rows)


def test_full_runs_every_experiment(tmp_path: Path) -> None:
    weak = WEAKENINGS[0]
    drill, calls = _fake_drill({weak.name: {"zone-loss": False}, "healthy": {"zone-loss": True}})
    run_matrix([weak], tmp_path, drill, full=True)
    assert calls[0] == (weak.name, [])


def test_results_are_written_as_markdown_and_json(tmp_path: Path) -> None:
    weak = WEAKENINGS[3]
    drill, _ = _fake_drill({weak.name: {"zone-loss": False}, "healthy": {"zone-loss": True}})
    rows = run_matrix([weak], tmp_path / "runs", drill)
    write_results(rows, tmp_path / "out")
    body = json.loads((tmp_path / "out" / "sensitivity.json").read_text())
    assert [b["ok"] for b in body] == [True, True]
    assert "`--standby 0`" in (tmp_path / "out" / "sensitivity.md").read_text()


def test_missing_junit_reads_as_nothing_ran(tmp_path: Path) -> None:
    assert failed_experiments(tmp_path / "junit.xml") == ([], [])


def test_every_expected_experiment_is_in_the_local_catalog() -> None:
    local = set(catalog.names("local"))
    for weakening in WEAKENINGS:
        assert weakening.expected and set(weakening.expected) <= local, weakening.name


def _single(name: str) -> Weakening:
    return next(w for w in WEAKENINGS if w.name == name)


def test_a_missed_weakening_is_covered_only_by_a_caught_depth_pair(tmp_path: Path) -> None:
    pair = DEPTH_PAIRS[0]
    singles = [_single(n) for n in pair.backs_up]
    held = {"slow-replica": True}
    caught_pair = {**{w.name: held for w in singles}, pair.name: {"slow-replica": False}}
    drill, _ = _fake_drill({**caught_pair, "healthy": held})
    rows = run_matrix([*singles, pair], tmp_path / "a", drill)
    assert [r.ok for r in rows] == [True] * 4
    assert rows[0].covered_by == [pair.name] and not rows[0].caught
    assert f"covered: {pair.name} caught" in markdown(rows)

    held_pair = {**caught_pair, pair.name: held, "healthy": held}
    drill, _ = _fake_drill(held_pair)
    rows = run_matrix([*singles, pair], tmp_path / "b", drill)
    assert [r.ok for r in rows] == [False, False, True, True], "a survived pair covers nothing"
    assert rows[0].covered_by == [] and markdown(rows).count("**no**") == 2
    assert "survived (depth: covers nothing)" in markdown(rows)


def test_a_depth_pair_covers_only_the_weakenings_it_backs_up(tmp_path: Path) -> None:
    pair = DEPTH_PAIRS[0]
    other = next(w for w in WEAKENINGS if w.name not in pair.backs_up)
    drill, _ = _fake_drill(
        {other.name: {"zone-loss": True}, pair.name: {"slow-replica": False}, "healthy": {}}
    )
    rows = run_matrix([other, pair], tmp_path, drill)
    assert rows[0].ok is False and rows[0].covered_by == []


@pytest.mark.parametrize("pair", DEPTH_PAIRS, ids=lambda w: w.name)
def test_every_depth_pair_switches_off_what_it_backs_up(pair: Weakening) -> None:
    """A pair explains a single weakening only if it really includes that weakening."""
    assert pair.backs_up and pair.expected
    for name in pair.backs_up:
        args = _single(name).up_args
        assert any(pair.up_args[i : i + len(args)] == args for i in range(len(pair.up_args))), name
    assert set(pair.expected) <= set(catalog.names("local"))


def test_select_names_unknown_weakenings() -> None:
    assert select([]) == [*WEAKENINGS, *DEPTH_PAIRS]
    assert select([DEPTH_PAIRS[0].name]) == [DEPTH_PAIRS[0]]
    with pytest.raises(ValueError, match="unknown weakening nope"):
        select(["nope"])


@pytest.mark.parametrize("weakening", [*WEAKENINGS, *DEPTH_PAIRS], ids=lambda w: w.name)
def test_every_weakening_is_a_real_up_option(weakening: Weakening) -> None:
    """No test hooks: each weakening is an option an operator could pass to ``up``."""
    from infra.local.__main__ import build_parser

    base = ["up", "--workdir", "w", "--store", "file:///s"]
    defaults = vars(build_parser().parse_args(base))
    weakened = vars(build_parser().parse_args([*base, *weakening.up_args]))
    assert weakened != defaults


def test_a_replica_capacity_without_the_load_it_belongs_to_is_refused(capsys) -> None:
    from experiments.sensitivity import main

    assert main(["--store", "file:///nowhere", "--replica-capacity-rps", "40"]) == 2
    assert "--replica-capacity-rps needs --load-rps" in capsys.readouterr().err
