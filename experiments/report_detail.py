"""The report's detail tables: each probe's measured value against its limit, in words.

A person reads "availability 100.00%, p99 24 ms" and "availability ≥ 99.9%, p99 ≤ 250
ms", not the tolerance JSON; the raw JSON stays one click away in a ``<details>``.
Journal text is untrusted: everything goes through ``html.escape`` and secrets are masked.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from experiments.journal import (
    activity_name,
    exception_text,
    redact,
    secret_values,
    summarize,
)
from experiments.outcome import Outcome

MAX_DURING_ROWS = 40
_REF = re.compile(r"^\$\{([^}]+)\}$")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def met_html(value: Any) -> str:
    if value is True:
        return '<span class="ok">met</span>'
    return f'<span class="breached">{"not met" if value is False else esc(value)}</span>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """Rows hold already-escaped HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def raw_json(value: Any, secrets: set[str], label: str = "raw JSON") -> str:
    text = json.dumps(redact(value, secrets), indent=1, default=str, sort_keys=True)
    return f"<details><summary>{esc(label)}</summary><pre>{esc(text)}</pre></details>"


def _resolve(value: Any, config: dict[str, Any]) -> Any:
    """``${key}`` arguments as the configuration set them."""
    if isinstance(value, str):
        match = _REF.match(value)
        if match and match.group(1) in config:
            return config[match.group(1)]
    return value


def _pct(value: Any) -> str:
    return f"{float(value) * 100:.2f}%" if isinstance(value, int | float) else str(value)


def describe_value(value: Any) -> str:
    """A probe's output in words: SLO windows and capacity listings get their own phrasing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, dict) and "availability" in value:
        parts = [f"availability {_pct(value['availability'])}"]
        if isinstance(value.get("p99_ms"), int | float):
            parts.append(f"p99 {value['p99_ms']:.0f} ms")
        if "degraded_ratio" in value:
            parts.append(f"degraded {_pct(value['degraded_ratio'])}")
        if value.get("shed_ratio"):
            parts.append(f"shed {_pct(value['shed_ratio'])}")
        if "requests" in value:
            parts.append(f"{value['requests']} requests")
        return ", ".join(parts)
    if isinstance(value, dict) and isinstance(value.get("zones"), dict) and "ready" in value:
        zones = ", ".join(f"{z} {n}" for z, n in sorted(value["zones"].items()))
        return f"{value['ready']} ready replicas ({zones})"
    if value is None:
        return "no output"
    return summarize(value, limit=160)


_LIMIT_WORDS = {
    "availability": ("availability ≥", _pct),
    "p99_ms": ("p99 ≤", lambda v: f"{v:g} ms" if isinstance(v, int | float) else str(v)),
}


def _argument_limit(key: str, value: Any) -> str:
    if key in _LIMIT_WORDS:
        word, fmt = _LIMIT_WORDS[key]
        return f"{word} {fmt(value)}"
    if key.startswith("max_"):
        return f"{key[4:].replace('_', ' ')} ≤ {value}"
    if key.startswith("min_"):
        return f"{key[4:].replace('_', ' ')} ≥ {value}"
    return f"{key.replace('_', ' ')} = {value}"


def describe_tolerance(tolerance: Any, config: dict[str, Any]) -> str:
    """A tolerance as a limit in words."""
    if isinstance(tolerance, bool):
        return "is true" if tolerance else "is false"
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        low, high = ([*list(tolerance.get("range") or []), None, None])[:2]
        return f"between {low} and {high}"
    if isinstance(tolerance, dict) and isinstance(tolerance.get("provider"), dict):
        args = tolerance["provider"].get("arguments")
        args = args if isinstance(args, dict) else {}
        # chaoslib records the probe's output as the tolerance's ``value`` argument.
        limits = [_argument_limit(k, _resolve(v, config)) for k, v in args.items() if k != "value"]
        return ", ".join(limits) if limits else activity_name(tolerance)
    return summarize(tolerance, limit=120)


def _config(outcome: Outcome) -> dict[str, Any]:
    config = outcome.verdict.experiment_spec.get("configuration")
    return config if isinstance(config, dict) else {}


def _probe_rows(state: Any, label: str, outcome: Outcome, secrets: set[str]) -> list[list[str]]:
    if not isinstance(state, dict):
        return [[esc(label), "—", "—", "not run", met_html(False)]]
    runs = state.get("probes") if isinstance(state.get("probes"), list) else []
    rows = []
    for run in (r for r in runs if isinstance(r, dict)):
        activity = run.get("activity") if isinstance(run.get("activity"), dict) else {}
        value = esc(describe_value(redact(run.get("output"), secrets)))
        exc = exception_text(run, secrets)
        if exc:
            value += f"<br><span class='breached'>{esc(exc)}</span>"
        value += raw_json(run.get("output"), secrets)
        limit = esc(describe_tolerance(activity.get("tolerance"), _config(outcome)))
        limit += raw_json(activity.get("tolerance"), secrets, "tolerance JSON")
        met = run.get("tolerance_met") if run.get("status") == "succeeded" else False
        rows.append([esc(label), esc(activity_name(run)), value, limit, met_html(met)])
    if not rows:
        rows.append(
            [esc(label), "—", "no probes ran", "—", met_html(state.get("steady_state_met"))]
        )
    return rows


def hypothesis_html(outcome: Outcome) -> str:
    """The steady-state hypothesis before, during and after the method."""
    journal = outcome.verdict.journal or {}
    secrets = secret_values(outcome.verdict.experiment_spec)
    states = journal.get("steady_states") if isinstance(journal.get("steady_states"), dict) else {}
    rows = _probe_rows(states.get("before"), "before", outcome, secrets)
    during = states.get("during") if isinstance(states.get("during"), list) else []
    for i, state in enumerate(during[:MAX_DURING_ROWS]):
        rows += _probe_rows(state, f"during #{i + 1}", outcome, secrets)
    note = ""
    if len(during) > MAX_DURING_ROWS:
        note = f"<p class='note'>{len(during) - MAX_DURING_ROWS} more during checks omitted.</p>"
    rows += _probe_rows(states.get("after"), "after", outcome, secrets)
    headers = ["phase", "probe", "measured", "limit", "met?"]
    return table(headers, rows, "detail") + note


def activities_html(outcome: Outcome, key: str) -> str:
    """What the method injected (or the rollbacks undid), arguments redacted and collapsed."""
    journal = outcome.verdict.journal or {}
    secrets = secret_values(outcome.verdict.experiment_spec)
    runs = journal.get(key) if isinstance(journal.get(key), list) else []
    rows = []
    for run in (r for r in runs if isinstance(r, dict)):
        activity = run.get("activity") if isinstance(run.get("activity"), dict) else {}
        kind = str(activity.get("type", "?")) + (
            " (background)" if activity.get("background") else ""
        )
        detail = esc(summarize(run.get("output"), secrets, 160))
        exc = exception_text(run, secrets)
        if exc:
            detail += f"<br><span class='breached'>{esc(exc)}</span>"
        status = run.get("status")
        rows.append(
            [
                esc(activity_name(run)),
                esc(kind),
                '<span class="ok">succeeded</span>' if status == "succeeded" else met_html(status),
                esc(run.get("start", "")),
                detail + raw_json(activity.get("provider"), secrets, "provider and arguments"),
            ]
        )
    if not rows:
        return "<p class='note'>No activities ran.</p>"
    return table(["activity", "type", "status", "start", "output"], rows, "detail")
