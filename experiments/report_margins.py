"""How close each experiment came to its limits: the first screen's rows.

A margin is a measured figure set against its SLO limit. Its level is what the report
colours: ``ok`` (green) while less than ``THIN_SHARE`` of the budget is used, ``thin``
(amber) from there up to the limit, ``breached`` (red) beyond it, ``unknown`` when the
figure was not measured. For p99, the degraded ratio and recovery time the budget is the
limit itself; for availability it is the error budget ``1 - target``, because "within
20% of 99.9%" would call 80% availability comfortable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from experiments.journal import activity_name
from experiments.outcome import Outcome

THIN_SHARE = 0.8
LEVELS = ("ok", "thin", "breached", "unknown")
# Configuration keys the rows read: the load the drill put on the router, and the capacity
# measured before the drill (absent until the drill records it).
LOAD_KEYS = ("ssh_rate_rps", "spike_rate_rps")
CAPACITY_KEY = "capacity_rps"
TOTAL_LOAD_KEY = "load_rps"
DETECT_KEYS = ("detected_s", "time_to_detect_s")
LOAD_FUNCS = ("measure_window", "spike_traffic")


@dataclass(frozen=True)
class Margin:
    """One measured figure against its limit."""

    metric: str
    value: float | None
    limit: float
    used: float | None
    level: str
    text: str


@dataclass(frozen=True)
class ExperimentRow:
    """What the first screen says about one experiment."""

    experiment: str
    passed: bool
    fault: str
    load: str
    detect: str
    recovery: Margin
    margins: tuple[Margin, ...]

    @property
    def worst(self) -> str:
        levels = [m.level for m in (*self.margins, self.recovery)]
        for level in ("breached", "thin", "ok"):
            if level in levels:
                return level
        return "unknown"


def level_for(used: float | None) -> str:
    """The colour of a budget share: None unknown, > 1 breached, ≥ THIN_SHARE thin."""
    if used is None:
        return "unknown"
    if used > 1.0 + 1e-9:
        return "breached"
    return "thin" if used >= THIN_SHARE else "ok"


def _share(value: float, budget: float) -> float:
    if budget > 0:
        return value / budget
    return 0.0 if value <= 0 else float("inf")


def p99_margin(value: float | None, limit: float) -> Margin:
    used = None if value is None else _share(value, limit)
    shown = "not measured" if value is None else f"{value:.0f} ms"
    return Margin("p99", value, limit, used, level_for(used), f"p99 {shown} of {limit:g} ms")


def availability_margin(value: float | None, target: float) -> Margin:
    used = None if value is None else _share(1.0 - value, 1.0 - target)
    shown = "not measured" if value is None else f"{value * 100:.2f}%"
    return Margin(
        "availability",
        value,
        target,
        used,
        level_for(used),
        f"availability {shown} of ≥ {target * 100:g}%",
    )


def degraded_margin(value: float | None, limit: float) -> Margin:
    used = None if value is None else _share(value, limit)
    shown = "not measured" if value is None else f"{value * 100:.1f}%"
    return Margin(
        "degraded", value, limit, used, level_for(used), f"degraded {shown} of ≤ {limit * 100:g}%"
    )


def recovery_margin(outcome: Outcome) -> Margin:
    """Recovery time against the RTO; never recovering is a breach."""
    rto = outcome.slo.rto_s
    a = outcome.analysis
    if a is None or a.fault_window is None:
        why = "no time series" if a is None else "no fault window"
        return Margin("recovery", None, rto, None, "unknown", why)
    if a.recovery_s is None:
        return Margin(
            "recovery", None, rto, float("inf"), "breached", f"not recovered ({rto:g} s RTO)"
        )
    if not a.breached:
        return Margin("recovery", 0.0, rto, 0.0, "ok", "0 s: SLO held through the fault")
    used = _share(a.recovery_s, rto)
    text = f"{a.recovery_s:.1f} s of {rto:g} s RTO"
    return Margin("recovery", a.recovery_s, rto, used, level_for(used), text)


def _config(outcome: Outcome) -> dict[str, Any]:
    config = outcome.verdict.experiment_spec.get("configuration")
    return config if isinstance(config, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _rate_text(rate: float, capacity: float | None) -> str:
    if capacity is None or capacity <= 0:
        return f"{rate:g} rps"
    return f"{rate:g} rps = {rate / capacity:.0%} of {capacity:g} rps capacity"


def load_text(outcome: Outcome) -> str:
    """The rate the drill put on the router (and any spike), with its share of the
    capacity measured before the drill when the journal records one."""
    config = _config(outcome)
    base, spike = (_number(config.get(k)) for k in LOAD_KEYS)
    total = _number(config.get(TOTAL_LOAD_KEY))  # windows + recorder, as the drill planned it
    base = total if total is not None else base
    if base is None and spike is None:
        return "not recorded"
    capacity = _number(config.get(CAPACITY_KEY))
    parts = [_rate_text(r, capacity) for r in (base,) if r is not None]
    if spike is not None:
        parts.append(f"spike {_rate_text(spike, capacity)}")
    text = "; ".join(parts)
    if config.get("load_basis") == "design peak":
        text = f"{text} (design peak: the load the topology claims through a zone's loss)"
    return text if capacity is not None and capacity > 0 else f"{text} (capacity not measured)"


def fault_text(outcome: Outcome) -> str:
    """The method's fault actions by name (the recorder and waits are not faults); an
    experiment whose fault is load itself names its load steps."""
    method = outcome.verdict.experiment_spec.get("method")
    steps = [
        a
        for a in (method if isinstance(method, list) else [])
        if isinstance(a, dict) and not a.get("background")
    ]
    loads = [activity_name(a) for a in steps if _provider_func(a) in LOAD_FUNCS]
    if loads:
        return f"load: {', '.join(loads)}"
    actions = [activity_name(a) for a in steps if a.get("type") == "action"]
    return ", ".join(actions) or "none declared"


def _provider_func(activity: dict[str, Any]) -> str:
    provider = activity.get("provider")
    return str(provider.get("func")) if isinstance(provider, dict) else ""


def _outputs(journal: dict[str, Any]) -> list[dict[str, Any]]:
    runs = journal.get("run") if isinstance(journal.get("run"), list) else []
    return [r["output"] for r in runs if isinstance(r, dict) and isinstance(r.get("output"), dict)]


def detect_seconds(outcome: Outcome) -> float | None:
    """Time to detect: the expected alert's firing (the drill's alert timeline), else
    where a method activity measures it."""
    if outcome.detection is not None and outcome.detection.detected_s is not None:
        return outcome.detection.detected_s
    for output in _outputs(outcome.verdict.journal or {}):
        for key in DETECT_KEYS:
            value = _number(output.get(key))
            if value is not None:
                return value
    return None


def detect_text(outcome: Outcome) -> str:
    if outcome.detection is not None and outcome.detection.checked:
        return outcome.detection.text
    seconds = detect_seconds(outcome)
    return "not checked" if seconds is None else f"{seconds:.1f} s"


def budget(outcome: Outcome) -> tuple[float, float, float]:
    """(p99 ms, availability, degraded ratio) the experiment is judged by: the everyday
    SLO, or the budget its own steady state declares in its configuration
    (serving-outage's ``outage_*``: every answer may be the fallback; the region
    experiments' ``failover_*``). A margin against the everyday SLO for an outage drilled
    on purpose reads as a breach, and its finding would send the operator to fix it."""
    slo, conf = outcome.slo, _config(outcome)

    def own(*keys: str) -> float | None:
        return next((v for v in (_number(conf.get(k)) for k in keys) if v is not None), None)

    p99 = own("outage_p99_ms", "failover_p99_ms")
    availability = own("outage_availability", "failover_availability")
    degraded = own("outage_max_degraded_ratio")
    return (
        slo.p99_ms if p99 is None else p99,
        slo.availability if availability is None else availability,
        slo.max_degraded_ratio if degraded is None else degraded,
    )


def experiment_row(outcome: Outcome) -> ExperimentRow:
    a = outcome.analysis
    p99_ms, availability, degraded = budget(outcome)
    margins = (
        p99_margin(a.p99_ms if a else None, p99_ms),
        availability_margin(a.availability if a else None, availability),
        degraded_margin(a.degraded_ratio if a else None, degraded),
    )
    return ExperimentRow(
        experiment=outcome.verdict.experiment,
        passed=outcome.verdict.passed,
        fault=fault_text(outcome),
        load=load_text(outcome),
        detect=detect_text(outcome),
        recovery=recovery_margin(outcome),
        margins=margins,
    )
