"""The capacity search and how the measured load reaches every rendered experiment."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from aiohttp import web

from contracts.deployment import Slo
from experiments import cli, runner
from experiments.capacity import (
    CapacityError,
    LoadStep,
    load_configuration,
    open_loop_step,
    search_capacity,
    settle,
)
from experiments.render import VAR_FILE, render
from infra.local.procs import free_port
from tests.experiments.fakes import write_deployment

SLO = Slo()


class FakeRouter:
    """Open-loop figures per offered rate, as a router that saturates at ``capacity``
    would give them: p99 flat below it, queueing past it; a fixed failure count or
    degraded share from ``failing_from`` on."""

    def __init__(
        self,
        capacity: float,
        failing_from: float = float("inf"),
        degraded_from: float = float("inf"),
    ) -> None:
        self.capacity = capacity
        self.failing_from = failing_from
        self.degraded_from = degraded_from
        self.asked: list[float] = []

    def __call__(self, rate: float) -> LoadStep:
        self.asked.append(rate)
        p99 = 40.0 if rate <= self.capacity else 900.0
        requests = int(rate * 4)
        failed = 5 if rate >= self.failing_from else 0
        degraded = 0.2 if rate >= self.degraded_from else 0.0
        return LoadStep(rate, min(rate, self.capacity), p99, requests, failed, degraded)


def test_the_rate_doubles_until_the_slo_breaks_then_bisects_below_it() -> None:
    router = FakeRouter(capacity=300)
    lines: list[str] = []
    capacity = search_capacity(router, SLO, progress=lines.append)
    assert router.asked[:6] == [25, 50, 100, 200, 400, pytest.approx((200 * 400) ** 0.5)]
    assert len(router.asked) == 9, "5 doublings, 2 bisections, 2 confirming steps"
    assert router.asked[-2:] == [pytest.approx(capacity.rps, abs=0.1)] * 2
    assert "confirming" in lines[-3]
    assert 200 < capacity.rps <= 300, "the bisection lands between the last good and first bad"
    assert "misses the SLO" in lines[4]


class LuckyRouter(FakeRouter):
    """Just past its capacity (up to 1.5x) a rate holds the first time it is offered, by
    luck, and never again: as one short step near the knee of a real 2-core router can."""

    def __call__(self, rate: float) -> LoadStep:
        lucky = self.capacity < rate <= 1.5 * self.capacity and rate not in self.asked
        step = super().__call__(rate)
        return LoadStep(rate, step.rps, 40.0, step.requests, 0) if lucky else step


def test_a_rate_that_held_by_luck_is_not_the_capacity() -> None:
    router = LuckyRouter(capacity=300)
    capacity = search_capacity(router, SLO, progress=lambda _: None)
    assert capacity.rps <= 300, "only a rate that held in a row is the capacity"
    assert capacity.rps >= 200
    assert router.asked.count(pytest.approx(capacity.rps, abs=0.1)) >= 3


def test_a_rate_that_held_twice_by_luck_is_not_the_capacity() -> None:
    """673 rps held two steps in a row in one quiet drill and failed in others: the drill
    at half of it missed p99. The capacity must hold three steps in a row."""

    class TwiceLucky(FakeRouter):
        def __call__(self, rate: float) -> LoadStep:
            lucky = self.capacity < rate <= 1.5 * self.capacity and self.asked.count(rate) < 2
            step = super().__call__(rate)
            return LoadStep(rate, step.rps, 40.0, step.requests, 0) if lucky else step

    router = TwiceLucky(capacity=300)
    capacity = search_capacity(router, SLO, progress=lambda _: None)
    assert 200 <= capacity.rps <= 300
    lucky = [r for r in router.asked if 300 < r <= 450]
    assert lucky and all(lucky.count(r) <= 3 for r in lucky)


def test_a_capacity_that_never_holds_twice_is_an_error() -> None:
    class Unstable(FakeRouter):
        def __call__(self, rate: float) -> LoadStep:
            step = super().__call__(rate)
            held = rate not in self.asked[:-1]
            return LoadStep(rate, step.rps, 40.0 if held else 900.0, step.requests, 0)

    with pytest.raises(CapacityError, match="no rate held 3 steps in a row"):
        search_capacity(Unstable(capacity=300), SLO, progress=lambda _: None)


def test_failed_requests_beyond_the_slo_end_the_search_below_them() -> None:
    router = FakeRouter(capacity=1000, failing_from=100)
    capacity = search_capacity(router, SLO, progress=lambda _: None)
    assert 50 <= capacity.rps < 100


def test_degraded_answers_are_not_capacity() -> None:
    router = FakeRouter(capacity=1000, degraded_from=150)
    capacity = search_capacity(router, SLO, progress=lambda _: None)
    assert 100 <= capacity.rps < 150


def test_no_step_within_the_slo_is_an_error_with_the_figures() -> None:
    router = FakeRouter(capacity=10)
    with pytest.raises(CapacityError, match=r"p99 250 ms.*p99 900 ms"):
        search_capacity(router, SLO, progress=lambda _: None)


class OneAtATime:
    """A real HTTP server that answers one request at a time in ``service_s``: its
    capacity is 1 / service_s, which a closed loop with many clients cannot see past."""

    def __init__(self, service_s: float) -> None:
        self.service_s = service_s

    async def handle(self, request: web.Request) -> web.Response:
        async with self.lock:
            await asyncio.sleep(self.service_s)
        return web.json_response({"items": ["i1"], "model_version": "v1", "degraded": False})

    def serve(self, port: int, ready: threading.Event, stop: threading.Event) -> None:
        async def main() -> None:
            self.lock = asyncio.Lock()
            app = web.Application()
            app.router.add_post("/v1/recommend", self.handle)
            runner_ = web.AppRunner(app)
            await runner_.setup()
            await web.TCPSite(runner_, "127.0.0.1", port).start()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await runner_.cleanup()

        asyncio.run(main())


def test_the_open_loop_search_finds_a_real_servers_capacity_below_saturation() -> None:
    server = OneAtATime(service_s=0.01)  # saturates at 100 rps
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=server.serve, args=(port, ready, stop), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        measure = open_loop_step(f"http://127.0.0.1:{port}", step_s=1.0, timeout_s=1.0)
        capacity = search_capacity(measure, Slo(p99_ms=100.0), refinements=1, progress=print)
    finally:
        stop.set()
        thread.join(10)
    assert 25 <= capacity.rps < 100, "at or past saturation the open-loop p99 leaves the budget"


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
    normal = load["ssh_rate_rps"] + load["recorder_rate_rps"]
    assert spike["spike_rate_rps"] == pytest.approx(0.5 * normal, abs=0.1), "1.5x in total"


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
    load = load_configuration(90.0, 180.0)
    assert {k: seen["overrides"][k] for k in load} == load
    # no controller answers here: the journals say the run was not isolated, and why
    assert seen["overrides"]["isolation"] == "none"
    assert "cannot join the drill group" in seen["overrides"]["isolation_note"]


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


def test_the_design_peak_is_the_load_of_the_experiments_that_lose_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}

    def fake_run_catalog(*args, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(runner, "run_catalog", fake_run_catalog)
    deployment = str(write_deployment(tmp_path))
    argv = ["run", "--deployment", deployment, "--journals", str(tmp_path)]
    assert cli.main([*argv, "--load-rps", "90", "--capacity-rps", "180", "--peak-rps", "120"]) == 0
    peak = seen["by_experiment"]
    assert sorted(peak) == ["replica-loss", "zone-hang", "zone-loss"]
    assert peak["zone-loss"]["load_rps"] == 120.0
    assert peak["zone-loss"]["load_basis"] == "design peak"
    assert seen["overrides"]["load_rps"] == 90.0  # everything else at the base load

    out = tmp_path / "rendered"
    render(deployment, out, ["zone-loss", "slow-replica"], seen["overrides"], None, peak)

    def rendered(name: str) -> dict:
        return json.loads((out / f"{name}.json").read_text())["configuration"]

    assert rendered("zone-loss")["load_rps"] == 120.0
    assert rendered("slow-replica")["load_rps"] == 90.0
    # the shared var file must not override one experiment's own load in every run
    assert "load_rps" not in json.loads((out / VAR_FILE).read_text())["configuration"]


class RecoversAfter(OneAtATime):
    """Answers degraded (a router with replicas ejected or backlogged) until ``after_s``
    from its first request, then whole."""

    def __init__(self, after_s: float) -> None:
        super().__init__(service_s=0.0)
        self.after_s, self.first = after_s, None

    async def handle(self, request: web.Request) -> web.Response:
        now = asyncio.get_running_loop().time()
        self.first = self.first or now
        degraded = now - self.first < self.after_s
        return web.json_response({"items": ["i1"], "model_version": "v1", "degraded": degraded})


@pytest.mark.parametrize(("after_s", "least", "most"), [(2.5, 2.5, 5.0), (60.0, 3.0, 4.5)])
def test_settle_waits_for_a_clean_light_probe_at_most_its_limit(after_s, least, most) -> None:
    server = RecoversAfter(after_s)
    port = free_port()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=server.serve, args=(port, ready, stop), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        waited = settle(f"http://127.0.0.1:{port}", limit_s=3.0 if after_s > 10 else 20.0)
    finally:
        stop.set()
        thread.join(10)
    assert least <= waited <= most
