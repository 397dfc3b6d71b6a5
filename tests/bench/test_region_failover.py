"""The region-failover bench's figures and verdicts, from hand-made request timelines:
each target can fail, and the failover time is where 99% of what follows is the DR's."""

from __future__ import annotations

import pytest

from bench.region_failover import by_dr, failover_s, figures, met, parse_args
from experiments.probes.load import RequestResult

KILL = 100.0


def answer(t: float, replica: str | None = "dr-a-0", status: int = 200, **kw) -> RequestResult:
    return RequestResult(scheduled=t, latency_s=0.01, status=status, replica=replica, **kw)


def timeline(primary_until: float, failures: list[float] = (), end: float = 120.0):
    """50 requests/s: the primary answers until ``primary_until``, then the DR region."""
    out, t = [], 90.0
    while t < end:
        if t in failures:
            out.append(answer(t, None, status=0, error="ClientConnectorError"))
        else:
            out.append(answer(t, "local-a-0" if t < primary_until else "dr-a-0", version="v1"))
        t = round(t + 0.02, 2)
    return out


def test_failover_time_is_when_the_dr_region_takes_99_percent_of_what_follows():
    # 850 requests follow 103.0 s; 1% of them (8) may still be the primary's
    assert failover_s(timeline(103.0), KILL) == pytest.approx(2.84, abs=0.005)
    assert failover_s(timeline(100.0), KILL) == 0.0
    assert failover_s(timeline(200.0), KILL) is None  # the DR region never answered


def test_a_degraded_fallback_after_the_kill_counts_as_the_dr_region_answering():
    results = timeline(100.0)
    results[-300] = answer(results[-300].scheduled, None, degraded=True)
    assert failover_s(results, KILL) == 0.0
    assert not by_dr(answer(99.0, None, degraded=True), KILL)  # the primary's, before the kill
    assert not by_dr(answer(101.0, "local-a-0"), KILL)


def test_a_good_run_meets_every_target():
    result = figures(timeline(101.0), KILL, steering_s=1.2)
    assert all(met(result).values()), result
    assert result["dr_versions"] == ["v1"] and result["window_s"] == pytest.approx(1.2)


def test_each_target_fails_on_its_breakage():
    slow = figures(timeline(111.0), KILL, steering_s=1.0)
    assert met(slow)["failover_s"] is False
    lossy = figures(timeline(100.0, failures=[100.2, 100.4]), KILL, steering_s=1.0)
    assert lossy["failed_in_window"] == 2 and met(lossy)["failed_ratio"] is False
    results = timeline(100.0)
    results[-1] = answer(results[-1].scheduled, None, status=503)
    broken = figures(results, KILL, steering_s=1.0)
    assert broken["errors_5xx_after"] == 1 and met(broken)["errors_5xx_after"] is False


def test_bad_flags_are_a_clean_cli_error(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(["--fault-at", "40", "--duration", "30"])
    assert exc.value.code == 2 and "--fault-at" in capsys.readouterr().err
