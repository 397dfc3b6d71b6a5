"""What the standby buys, and what it costs: zone-loss on the deployment with its standby
beside the same fault on one with ``--standby 0``, next to the standby's price per stack.

Weighing the standby against its cost is the question every user of this tool has to
answer, so the report puts both sides in one table. The pair comes from the sensitivity
matrix (its ``no-standby`` drill, held to the healthy deployment's load) or from any
zone-loss journal of a deployment without a standby. Each side gives what the users saw
(degraded share, p99 and availability over the fault window) and the time the survivors
carried less than the offered load (zone-loss's ``load-carried-without-the-zone`` check).
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.outcome import build_outcome

__all__ = [
    "CHECK_NAME",
    "StandbyCost",
    "StandbyValue",
    "ZoneLossRun",
    "compare",
    "standby_costs",
    "standby_html",
    "standby_markdown",
    "zone_loss_run",
]

CHECK_NAME = "load-carried-without-the-zone"
_OVER_BUDGET = re.compile(r"below capacity for ([\d.]+) s")
_WHOLE_WATCH = re.compile(r"for the whole ([\d.]+) s watched")


@dataclass(frozen=True)
class ZoneLossRun:
    """One zone-loss journal, as the comparison shows it."""

    label: str
    passed: bool
    standby_replicas: int | None
    p99_ms: float | None
    degraded_ratio: float | None
    availability: float | None
    below_capacity_s: float | None
    below_capacity_text: str
    started: str


@dataclass(frozen=True)
class StandbyCost:
    stack: str
    standby_replicas: int
    usd_per_hour: float
    stack_usd_per_hour: float


@dataclass(frozen=True)
class StandbyValue:
    with_standby: ZoneLossRun
    without: ZoneLossRun
    costs: tuple[StandbyCost, ...]


def below_capacity(journal: dict[str, Any]) -> tuple[float | None, str]:
    """Seconds the survivors carried less than the load, and how to say it."""
    runs = journal.get("run") or []
    check = next((r for r in runs if (r.get("activity") or {}).get("name") == CHECK_NAME), None)
    if check is None:
        return None, "not checked (an older journal)"
    if check.get("status") == "succeeded":
        output = check.get("output") or {}
        if not output.get("judged"):
            return None, "not judged: no measured capacity"
        seconds = float(output["below_capacity_s"])
        return seconds, f"{seconds:.1f} s (budget {float(output['budget_s']):g} s)"
    text = str(check.get("exception") or "")
    if match := _WHOLE_WATCH.search(text):
        return float(match[1]), f"≥ {float(match[1]):.0f} s: never carried while watched"
    if match := _OVER_BUDGET.search(text):
        return float(match[1]), f"{float(match[1]):.1f} s: over its budget"
    return None, f"check failed: {text[:120]}"


def zone_loss_run(path: Path, label: str) -> ZoneLossRun:
    """The figures of one zone-loss journal (ValueError when it is not one)."""
    journal = json.loads(path.read_text())
    conf = (journal.get("experiment") or {}).get("configuration") or {}
    if conf.get("experiment_name") != "zone-loss":
        raise ValueError(f"{path} is not a zone-loss journal")
    outcome = build_outcome(path)
    a = outcome.analysis
    seconds, text = below_capacity(journal)
    standby = conf.get("standby_replicas")
    return ZoneLossRun(
        label=label,
        passed=outcome.verdict.passed,
        standby_replicas=int(standby) if isinstance(standby, int | float) else None,
        p99_ms=a.p99_ms if a else None,
        degraded_ratio=a.degraded_ratio if a else None,
        availability=a.availability if a else None,
        below_capacity_s=seconds,
        below_capacity_text=text,
        started=str(journal.get("start") or "")[:16].replace("T", " "),
    )


def standby_costs() -> tuple[StandbyCost, ...]:
    """Each EKS stack's warm standby per hour (``python -m infra.aws.sizing``)."""
    from infra.aws.sizing import EKS_STACKS, sizing

    return tuple(
        StandbyCost(s.stack, s.standby_replicas, s.standby_usd_per_hour, s.usd_per_hour_steady)
        for s in map(sizing, EKS_STACKS)
    )


def compare(with_standby: Path, without: Path) -> StandbyValue:
    """The pair, with the costs (ValueError or OSError when a journal cannot be read)."""
    return StandbyValue(
        zone_loss_run(with_standby, "with the standby"),
        zone_loss_run(without, "without (--standby 0)"),
        standby_costs(),
    )


def _p99(run: ZoneLossRun) -> str:
    return "not measured" if run.p99_ms is None else f"{run.p99_ms:.0f} ms"


def _share(value: float | None, digits: int = 1) -> str:
    return "not measured" if value is None else f"{value:.{digits}%}"


def _rows(value: StandbyValue) -> list[list[str]]:
    return [
        [
            f"{r.label}{'' if r.standby_replicas is None else f' ({r.standby_replicas} standby)'}",
            "passed" if r.passed else "failed",
            _share(r.degraded_ratio),
            _p99(r),
            _share(r.availability, 2),
            r.below_capacity_text,
            r.started,
        ]
        for r in (value.with_standby, value.without)
    ]


HEADER = [
    "zone-loss",
    "verdict",
    "degraded",
    "p99",
    "availability",
    "below capacity",
    "run (UTC)",
]
COST_HEADER = ["stack", "standby replicas", "USD/h", "share of the stack's steady USD/h"]


def _cost_rows(value: StandbyValue) -> list[list[str]]:
    return [
        [
            c.stack,
            str(c.standby_replicas),
            f"{c.usd_per_hour:.2f}",
            f"{c.usd_per_hour / c.stack_usd_per_hour:.0%} of {c.stack_usd_per_hour:.2f}",
        ]
        for c in value.costs
    ]


def standby_markdown(value: StandbyValue) -> str:
    """The comparison as Markdown (sensitivity.md, the drill summary)."""

    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        return [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows),
        ]

    return "\n".join(
        [
            "## What the standby buys, and what it costs",
            "",
            *table(HEADER, _rows(value)),
            "",
            *table(COST_HEADER, _cost_rows(value)),
            "",
            "On-demand eu-west-1 list prices, one GPU node share per replica "
            "(`python -m infra.aws.sizing`).",
            "",
        ]
    )


def standby_html(value: StandbyValue) -> str:
    """The comparison as a report section."""

    def table(header: list[str], rows: list[list[str]]) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    return (
        "<h2 id='standby'>What the standby buys, and what it costs</h2>"
        "<p class='note'>zone-loss with the standby beside the same fault without it, held "
        "to the same load; below capacity is how long the replicas the router still used "
        "carried less than that load.</p>"
        f"{table(HEADER, _rows(value))}"
        f"{table(COST_HEADER, _cost_rows(value))}"
        "<p class='note'>On-demand eu-west-1 list prices, one GPU node share per replica "
        "(<code>python -m infra.aws.sizing</code>).</p>"
    )
