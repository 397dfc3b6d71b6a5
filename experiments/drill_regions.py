"""The drill's regional phase: two regions on this machine, the region experiments on them.

After the single-region catalog (and with its environment down, so the two do not fight
over the two cores), ``infra.local up --regions 2`` starts in its own workdir, the region
experiments run with the real ``chaos`` CLI like the rest of the catalog, and the
regions go down even when a step failed. The one gate judges these journals with the
others.

Size and load: the primary region has 2 zones x 1 replica, the DR region 2 zones x 1
(warm standby at the size that carries the load on one machine), no standby. The
regional traffic is ``REGIONAL_SHARE`` of the load planned for the single-region catalog:
after failover the DR region's 2 replicas carry all of it, against the 6 active plus
standby that the capacity was measured with, and on 2 cores the primary's restart
during failback competes with them for CPU.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from experiments.drill_conditions import Monitor, record_alerts
from infra.local.client import ControlError
from monitoring.alerts_client import PrometheusQueryError
from monitoring.local import PrometheusError

__all__ = ["REGIONAL_SHARE", "REGIONS_UP_ARGS", "regional_load", "run_regional_phase"]

Step = Callable[[str, list[str]], int]

REGIONAL_SHARE = 0.25
REGIONS_UP_ARGS = (
    "--regions", "2",
    "--zones", "2",
    "--replicas-per-zone", "1",
    "--standby", "0",
    "--warm-pool", "0",
    "--dr-zones", "2",
    "--front-door-interval", "0.25",
)  # fmt: skip
NO_PROMETHEUS = "prometheus is not on the PATH"
QUIET_TIMEOUT_S = 60.0


def regional_load(planned: dict[str, float]) -> dict[str, float]:
    """The regional phase's load: ``REGIONAL_SHARE`` of the planned rate, same capacity."""
    load = {"load_rps": round(planned["load_rps"] * REGIONAL_SHARE, 3)}
    if "capacity_rps" in planned:
        load["capacity_rps"] = planned["capacity_rps"]
    return load


def load_args(load: dict[str, float]) -> list[str]:
    args = ["--load-rps", str(load["load_rps"])]
    if "capacity_rps" in load:
        args += ["--capacity-rps", str(load["capacity_rps"])]
    return args


def run_regional_phase(
    step: Step,
    python: str,
    store: str,
    model: str,
    workdir: Path,
    journals: Path,
    names: list[str],
    planned: dict[str, float],
    watch: Callable[[], Monitor | None] = lambda: None,
    timings: dict[str, float] | None = None,
) -> int:
    """Up, watch (a Prometheus over both regions and the replicator, from ``watch``), run
    ``names``, write their alert timelines, down; the run's exit code (or the up's).
    ``timings`` gets the seconds spent running the experiments and settling their alerts
    (``experiments``) and on everything else: up, Prometheus, down (``environment``)."""
    started = time.monotonic()
    running = 0.0
    up = [python, "-m", "infra.local", "up", "--workdir", str(workdir), "--store", store]
    code = step("bring two regions up", [*up, "--model", model, *REGIONS_UP_ARGS])
    monitor: Monitor | None = None
    journals_of = [journals / f"{n}.json" for n in names]
    try:
        if code != 0:
            return code
        reason = NO_PROMETHEUS
        try:
            monitor = watch()
        except (PrometheusError, ControlError, OSError) as exc:
            reason = f"prometheus did not start on the two regions ({exc})"
        if monitor is not None:
            with contextlib.suppress(TimeoutError, PrometheusQueryError):
                monitor.wait_quiet(QUIET_TIMEOUT_S)
        since, run_started = time.time(), time.monotonic()
        code = step(
            "run the region experiments",
            [
                python,
                "-m",
                "experiments",
                "run",
                "--deployment",
                str(workdir / "deployment.json"),
                "--journals",
                str(journals),
                *load_args(regional_load(planned)),
                *names,
            ],
        )
        problem = record_alerts(monitor, since, journals_of, reason)
        running = time.monotonic() - run_started
        return code or (1 if problem else 0)
    finally:
        if monitor is not None:
            monitor.stop()
        step(
            "bring the two regions down",
            [python, "-m", "infra.local", "down", "--workdir", str(workdir)],
        )
        if timings is not None:
            timings["experiments"] = running
            timings["environment"] = time.monotonic() - started - running
