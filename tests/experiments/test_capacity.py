"""The capacity search and how the measured load reaches every rendered experiment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import cli, runner
from experiments.capacity import (
    CapacityError,
    LoadStep,
    load_configuration,
    search_capacity,
)
from experiments.render import render
from tests.experiments.fakes import write_deployment

BUDGET_MS = 250.0


class FakeRouter:
    """Closed-loop figures per concurrency, as a router that saturates would give them."""

    def __init__(self, table: dict[int, tuple[float, float, int]]) -> None:
        self.table = table
        self.asked: list[int] = []

    def __call__(self, concurrency: int) -> LoadStep:
        self.asked.append(concurrency)
        rps, p99, failed = self.table[concurrency]
        return LoadStep(concurrency, rps, p99, requests=int(rps * 3), failed=failed)


def test_the_highest_throughput_within_the_p99_budget_wins() -> None:
    router = FakeRouter(
        {1: (60, 20, 0), 2: (115, 25, 0), 4: (210, 40, 0), 8: (300, 120, 0), 16: (330, 400, 0)}
    )
    lines: list[str] = []
    capacity = search_capacity(router, BUDGET_MS, progress=lines.append)
    assert (capacity.rps, capacity.concurrency) == (300, 8)
    assert router.asked == [1, 2, 4, 8, 16]
    assert len(lines) == 5 and "over budget" in lines[-1]


def test_a_failed_request_ends_the_search_below_it() -> None:
    router = FakeRouter({1: (60, 20, 0), 2: (115, 25, 0), 4: (210, 40, 3)})
    capacity = search_capacity(router, BUDGET_MS, progress=lambda _: None)
    assert (capacity.rps, capacity.concurrency) == (115, 2)


def test_a_plateau_stops_the_search_without_waiting_for_the_budget() -> None:
    router = FakeRouter(
        {1: (60, 20, 0), 2: (115, 25, 0), 4: (118, 50, 0), 8: (119, 90, 0), 16: (120, 99, 0)}
    )
    capacity = search_capacity(router, BUDGET_MS, progress=lambda _: None)
    assert router.asked == [1, 2, 4, 8]
    assert capacity.rps == 119


def test_one_step_that_dips_by_chance_does_not_end_the_search() -> None:
    router = FakeRouter({1: (60, 20, 0), 2: (115, 25, 0), 4: (100, 40, 0), 8: (200, 90, 0),
                         16: (230, 400, 0)})  # fmt: skip
    capacity = search_capacity(router, BUDGET_MS, progress=lambda _: None)
    assert (capacity.rps, capacity.concurrency) == (200, 8)


def test_no_step_within_budget_is_an_error_with_the_figures() -> None:
    router = FakeRouter({1: (10, 900, 0)})
    with pytest.raises(CapacityError, match=r"250 ms p99 budget.*p99 900 ms"):
        search_capacity(router, BUDGET_MS, progress=lambda _: None)


def test_the_load_is_split_between_windows_and_recorder_with_its_share() -> None:
    load = load_configuration(100.0, capacity_rps=200.0)
    assert load["ssh_rate_rps"] + load["recorder_rate_rps"] == pytest.approx(100.0)
    assert load["ssh_rate_rps"] > load["recorder_rate_rps"] > 0
    assert (load["capacity_rps"], load["load_fraction"]) == (200.0, 0.5)
    assert "capacity_rps" not in load_configuration(80.0)
    with pytest.raises(ValueError, match="load_rps"):
        load_configuration(0.0)


def test_the_load_is_rendered_into_every_experiment(tmp_path: Path) -> None:
    deployment = write_deployment(tmp_path)
    load = load_configuration(120.0, capacity_rps=240.0)
    paths = render(deployment, tmp_path / "out", overrides=load)
    assert len(paths) >= 7
    for path in paths:
        config = json.loads(path.read_text())["configuration"]
        assert config["capacity_rps"] == 240.0 and config["load_fraction"] == 0.5
        assert config["ssh_rate_rps"] == load["ssh_rate_rps"]
        assert config["recorder_rate_rps"] == load["recorder_rate_rps"]
    spike = json.loads((tmp_path / "out" / "load-spike.json").read_text())["configuration"]
    assert spike["spike_rate_rps"] == pytest.approx(3 * load["ssh_rate_rps"])


def test_run_passes_load_rps_to_the_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}

    def fake_run_catalog(*args, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(runner, "run_catalog", fake_run_catalog)
    deployment = str(write_deployment(tmp_path))  # run reads it for the pre-flight
    argv = ["run", "--deployment", deployment, "--journals", str(tmp_path)]
    assert cli.main([*argv, "--load-rps", "90", "--capacity-rps", "180"]) == 0
    assert seen["overrides"] == load_configuration(90.0, 180.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--load-rps", "-5"], "must be a positive number"),
        (["--load-rps", "lots"], "not a number"),
        (["--capacity-rps", "100"], "--capacity-rps needs --load-rps"),
    ],
)
def test_bad_load_flags_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["run", "--deployment", "d.json", "--journals", str(tmp_path), *extra]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage error
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_report_shows_the_drill_load_as_a_share_of_capacity(tmp_path: Path) -> None:
    from experiments.outcome import build_outcome
    from experiments.report_margins import load_text
    from tests.experiments.journals import factories as f

    journal = f.clean_journal()
    journal["experiment"]["configuration"].update(load_configuration(112.5, 225.0))
    outcome = build_outcome(f.write_journal(tmp_path, journal, name="zone-loss"))
    assert load_text(outcome) == "112.5 rps = 50% of 225 rps capacity"
