"""The safeguard: a chaoslib control that stops an experiment when real users suffer.

The hypothesis judges the SLO; the safeguard is a separate, looser line that must
never be crossed while a fault is injected. During the method a watcher thread
measures short windows of traffic through the router (the same open-loop generator
the SLO probe uses, at a low rate) and, when configured, a Prometheus query and
CloudWatch alarms (``experiments.controls.cloudwatch``: on AWS the stop conditions). When
``safeguard_trip_windows`` windows in a row are beyond a threshold it records the
figure that tripped it, ends the background recorder (chaoslib waits for the method's
background activities before any rollback; see ``experiments.probes.recorder``) and
calls ``chaoslib.exit.exit_gracefully`` (SIGUSR1), which interrupts the method at once;
the runner's ``--rollback-strategy always`` then plays every rollback, and
``python -m experiments rollback --state`` is the backstop.

chaostoolkit-addons 0.11 has a safeguards control (it installs against lib 1.44), but
it judges chaoslib probes by tolerance only and records nothing about *why* it
stopped, and the gate must show the figure, so this one is ours.

The experiment's journal gets a ``recdrill-safeguard`` entry in
``experiment.extensions``: whether it tripped, why, and the windows it watched.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chaoslib import substitute
from chaoslib.exit import exit_gracefully

from experiments.controls.cloudwatch import AlarmSource, alarm_names
from experiments.controls.interrupt import ActionGuard
from experiments.probes import recorder
from experiments.probes.slo import measure_window

EXTENSION = "recdrill-safeguard"
MODULE = __name__

Measure = Callable[[], dict[str, Any]]


def thresholds_breached(window: dict[str, Any], limits: dict[str, float]) -> list[str]:
    """The figures of ``window`` beyond ``limits``, as ``"name value > limit"`` lines."""
    breaches = []
    requests = window.get("requests", 0)
    availability = window.get("availability", 0.0) if requests else 0.0
    if availability < limits["min_availability"]:
        breaches.append(
            f"availability {availability:.3f} < {limits['min_availability']:g} "
            f"({window.get('errors', requests)} errors in {requests} requests)"
        )
    p99 = window.get("p99_ms")
    if p99 is not None and p99 > limits["max_p99_ms"]:
        breaches.append(f"p99 {p99:.0f} ms > {limits['max_p99_ms']:g} ms")
    prom = window.get("prometheus_value")
    if prom is not None and prom > limits.get("prometheus_max", float("inf")):
        query, limit = window.get("prometheus_query"), limits["prometheus_max"]
        breaches.append(f"prometheus {query!r} = {prom:g} > {limit:g}")
    for alarm in window.get("cloudwatch_in_alarm") or []:
        breaches.append(f"cloudwatch alarm {alarm['name']} in ALARM: {alarm['reason']}")
    return breaches


def prometheus_value(url: str, query: str, timeout_s: float = 2.0) -> float | None:
    """The first sample of an instant query (``None`` when the result is empty)."""
    full = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(full, timeout=timeout_s) as answer:
        body = json.loads(answer.read())
    result = body.get("data", {}).get("result", [])
    if not result:
        return None
    return float(result[0]["value"][1])


def _exit_gracefully() -> None:
    exit_gracefully()  # looked up at call time, so tests can stand in for the signal


_guard = ActionGuard(_exit_gracefully)


def stop_the_run() -> None:
    """End the recording first, so nothing holds the rollbacks back, then interrupt
    (after the fault action in progress, if any: see ``experiments.controls.interrupt``)."""
    recorder.stop_recording()
    _guard.request()


class Watcher:
    """Measures windows until stopped or tripped; ``interrupt`` is called once on a trip."""

    def __init__(
        self,
        measure: Measure,
        limits: dict[str, float],
        trip_windows: int,
        interrupt: Callable[[], None] = stop_the_run,
    ) -> None:
        self.measure = measure
        self.limits = limits
        self.trip_windows = max(1, trip_windows)
        self.interrupt = interrupt
        self.windows: list[dict[str, Any]] = []
        self.tripped: dict[str, Any] | None = None
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recdrill-safeguard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def check_once(self) -> bool:
        """Measure one window; True when the safeguard trips on it."""
        try:
            window = self.measure()
        except Exception as exc:
            self.problems.append(f"{type(exc).__name__}: {exc}")
            return False
        breaches = thresholds_breached(window, self.limits)
        self.windows.append({"window": _brief(window), "breaches": breaches})
        recent = self.windows[-self.trip_windows :]
        if len(recent) == self.trip_windows and all(w["breaches"] for w in recent):
            self.tripped = {
                "at": datetime.now(UTC).isoformat(),
                "reason": "; ".join(breaches),
                "figures": _brief(window),
                "windows_in_a_row": self.trip_windows,
                "limits": dict(self.limits),
            }
            return True
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.check_once():
                if not self._stop.is_set():
                    self.interrupt()
                return

    def record(self) -> dict[str, Any]:
        return {
            "name": EXTENSION,
            "tripped": self.tripped is not None,
            "reason": (self.tripped or {}).get("reason"),
            "at": (self.tripped or {}).get("at"),
            "figures": (self.tripped or {}).get("figures"),
            "limits": dict(self.limits),
            "windows": len(self.windows),
            "worst": self.worst(),
            "problems": self.problems[-5:],
        }

    def worst(self) -> dict[str, float | None]:
        """The closest the run came to the lines: lowest availability, highest p99."""
        seen = [w["window"] for w in self.windows]
        availability = [w["availability"] for w in seen if w.get("requests")]
        p99 = [w["p99_ms"] for w in seen if w.get("p99_ms") is not None]
        return {
            "availability": min(availability, default=None),
            "p99_ms": max(p99, default=None),
        }


def _brief(window: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "requests",
        "errors",
        "availability",
        "p99_ms",
        "prometheus_value",
        "cloudwatch_in_alarm",
    )
    return {k: window[k] for k in keys if k in window}


_watcher: Watcher | None = None
_arguments: dict[str, Any] = {}


def watcher_from(arguments: dict[str, Any]) -> Watcher:
    """A watcher for the control's (substituted) arguments."""
    endpoint = str(arguments["endpoint"])
    window_s = float(arguments.get("window_s", 1.0))
    rate_rps = float(arguments.get("rate_rps", 10.0))
    timeout_s = float(arguments.get("timeout_s", 2.0))
    prom_url = arguments.get("prometheus_url") or ""
    prom_query = arguments.get("prometheus_query") or ""
    limits = {
        "min_availability": float(arguments.get("min_availability", 0.8)),
        "max_p99_ms": float(arguments.get("max_p99_ms", 2000.0)),
    }
    if prom_url and prom_query:
        limits["prometheus_max"] = float(arguments.get("prometheus_max", 0.0))
    alarms = alarm_source(arguments)

    def measure() -> dict[str, Any]:
        window = measure_window(endpoint, window_s, rate_rps, timeout_s)
        if prom_url and prom_query:
            window["prometheus_query"] = prom_query
            window["prometheus_value"] = prometheus_value(prom_url, prom_query, timeout_s)
        if alarms is not None:
            window["cloudwatch_in_alarm"] = alarms.in_alarm()
        return window

    return Watcher(measure, limits, int(arguments.get("trip_windows", 2)))


def alarm_source(arguments: dict[str, Any]) -> AlarmSource | None:
    """The CloudWatch alarms the (substituted) arguments name, None when they name none."""
    names = alarm_names(arguments.get("cloudwatch_alarms"))
    prefix = str(arguments.get("cloudwatch_alarm_prefix") or "")
    if not names and not prefix:
        return None
    return AlarmSource(names, prefix, str(arguments.get("cloudwatch_region") or "") or None)


def check_sources(experiment: dict[str, Any]) -> str | None:
    """Before a run: the experiment's CloudWatch alarms exist and can be read.

    Raises :class:`~experiments.controls.cloudwatch.AlarmSourceError` (one line) when
    they cannot; returns what is watched, or None when no alarm is configured.
    """
    configuration = experiment.get("configuration", {})
    for control in experiment.get("controls", []):
        if control.get("name") == EXTENSION:
            arguments = substitute(control["provider"]["arguments"], configuration, {})
            source = alarm_source(arguments)
            if source is not None:
                source.states()
                return source.describe()
    return None


def _stop() -> None:
    if _watcher is not None:
        _watcher.stop()


def configure_control(configuration: dict[str, Any] | None = None, **arguments: Any) -> None:
    """Keep the arguments; chaoslib does not substitute ``${…}`` at this stage."""
    global _watcher, _arguments
    _watcher = None
    _arguments = substitute(arguments, configuration or {}, {}) if configuration else arguments


def before_method_control(context: Any, **arguments: Any) -> None:
    """The fault is about to be injected: start watching users."""
    global _watcher
    _stop()
    recorder.reset_stop()
    _guard.reset()
    _watcher = watcher_from({**_arguments, **arguments})
    _watcher.start()


def before_activity_control(context: Any, **arguments: Any) -> None:
    _guard.started(context)


def after_activity_control(context: Any, state: Any = None, **arguments: Any) -> None:
    """A trip during a fault action interrupts here, once its rollback state is written."""
    _guard.ended(context)


def after_method_control(context: Any, state: Any = None, **arguments: Any) -> None:
    _stop()


def before_rollback_control(context: Any, **arguments: Any) -> None:
    """Rollbacks must never be interrupted by the safeguard."""
    _stop()


def after_experiment_control(context: Any, state: Any = None, **arguments: Any) -> None:
    """Write why the run stopped (or that it did not) into the journal."""
    _stop()
    experiment = state.get("experiment") if isinstance(state, dict) else None
    if isinstance(experiment, dict):
        record = _watcher.record() if _watcher is not None else _unwatched()
        if _guard.deferred_for:
            record["interrupt_deferred_until_end_of"] = _guard.deferred_for
        extensions = [e for e in experiment.get("extensions", []) if e.get("name") != EXTENSION]
        experiment["extensions"] = [*extensions, record]


def _unwatched() -> dict[str, Any]:
    """The record when the method never started (the steady state failed before it)."""
    return {"name": EXTENSION, "tripped": False, "reason": None, "figures": None, "windows": 0}


def cleanup_control() -> None:
    _stop()


def control(config: dict[str, Any]) -> dict[str, Any]:
    """The control block the catalog declares; its arguments reference the configuration."""
    arguments = {
        "endpoint": "${endpoint}",
        "window_s": "${safeguard_window_s}",
        "rate_rps": "${safeguard_rate_rps}",
        "timeout_s": "${request_timeout_s}",
        "min_availability": "${safeguard_min_availability}",
        "max_p99_ms": "${safeguard_max_p99_ms}",
        "trip_windows": "${safeguard_trip_windows}",
    }
    if config.get("prometheus_url"):
        arguments |= {
            "prometheus_url": "${prometheus_url}",
            "prometheus_query": "${safeguard_prometheus_query}",
            "prometheus_max": "${safeguard_prometheus_max}",
        }
    alarm_keys = ("safeguard_cloudwatch_alarms", "safeguard_cloudwatch_alarm_prefix")
    if any(config.get(key) for key in alarm_keys):
        arguments |= {
            "cloudwatch_alarms": "${safeguard_cloudwatch_alarms}",
            "cloudwatch_alarm_prefix": "${safeguard_cloudwatch_alarm_prefix}",
            "cloudwatch_region": "${safeguard_cloudwatch_region}",
        }
    return {
        "name": EXTENSION,
        "provider": {"type": "python", "module": MODULE, "arguments": arguments},
    }
