"""Reads alert state from Prometheus's HTTP API, and turns the ``ALERTS`` series into
episodes (pending, fired, resolved) that a drill compares with its fault window."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


class PrometheusQueryError(RuntimeError):
    """Prometheus refused a query or could not be reached (the query is in the message)."""


@dataclass(frozen=True)
class AlertEpisode:
    """One stretch during which an alert was pending or firing.

    Times are Unix seconds at the query step's resolution. ``fired_at`` is None when it
    never got past pending; ``resolved_at`` is None when it is still active at the end.
    """

    alertname: str
    labels: Mapping[str, str]
    pending_at: float
    fired_at: float | None
    resolved_at: float | None


class PrometheusClient:
    """A small client for the few API calls the drill needs."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            resp = httpx.get(f"{self.url}{path}", params=params, timeout=self.timeout)
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PrometheusQueryError(f"GET {path} {dict(params or {})}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusQueryError(
                f"GET {path} {dict(params or {})}: {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self._get("/api/v1/query", {"query": expr})["result"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": start, "end": end, "step": step}
        return self._get("/api/v1/query_range", params)["result"]

    def active_alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing now, each with ``labels``, ``state`` and ``activeAt``."""
        return self._get("/api/v1/alerts")["alerts"]

    def targets_up(self) -> dict[str, bool]:
        """Each active scrape target's address and whether its last scrape worked."""
        targets = self._get("/api/v1/targets", {"state": "active"})["activeTargets"]
        return {t["labels"]["instance"]: t["health"] == "up" for t in targets}

    def rule_names(self) -> list[str]:
        groups = self._get("/api/v1/rules")["groups"]
        return [r["name"] for g in groups for r in g["rules"]]


def alerts_timeline(
    url: str, since: float, until: float | None = None, step: float = 1.0
) -> list[AlertEpisode]:
    """Every alert episode between ``since`` and ``until`` (default now), oldest first."""
    until = time.time() if until is None else until
    result = PrometheusClient(url).query_range("ALERTS", since, until, step)
    last_step = since + math.floor((until - since) / step) * step
    return episodes_from_matrix(result, step, last_step)


def episodes_from_matrix(
    result: Sequence[Mapping[str, Any]], step: float, end: float
) -> list[AlertEpisode]:
    """Episodes from an ``ALERTS`` range query whose last step is at ``end``: samples of
    one alert (its labels without ``alertstate``) at most one step apart belong to one
    episode; the first step with no sample after it is when it resolved. An alert that
    resolved after the last step still shows as active: query a step or two later."""
    samples: dict[tuple[tuple[str, str], ...], list[tuple[float, str]]] = {}
    for series in result:
        metric = dict(series["metric"])
        state = metric.pop("alertstate", "firing")
        metric.pop("__name__", None)
        key = tuple(sorted(metric.items()))
        samples.setdefault(key, []).extend(
            (float(ts), state) for ts, value in series["values"] if not math.isnan(float(value))
        )
    episodes: list[AlertEpisode] = []
    for key, points in samples.items():
        points.sort()
        run: list[tuple[float, str]] = []
        for point in points:
            if run and point[0] - run[-1][0] > step * 1.5:
                episodes.append(_episode(dict(key), run, step, end))
                run = []
            run.append(point)
        if run:
            episodes.append(_episode(dict(key), run, step, end))
    return sorted(episodes, key=lambda e: (e.pending_at, e.alertname))


def _episode(
    labels: dict[str, str], run: list[tuple[float, str]], step: float, end: float
) -> AlertEpisode:
    name = labels.pop("alertname", "")
    fired = next((ts for ts, state in run if state == "firing"), None)
    last = run[-1][0]
    resolved = None if last > end - step / 2 else last + step
    return AlertEpisode(name, labels, run[0][0], fired, resolved)


def first_fired(
    episodes: Sequence[AlertEpisode], alertname: str, after: float
) -> AlertEpisode | None:
    """The first episode of ``alertname`` that fired at or after ``after`` (a fault's
    start), or None: its ``fired_at - after`` is the time to detect."""
    fired = [
        e
        for e in episodes
        if e.alertname == alertname and e.fired_at is not None and e.fired_at >= after
    ]
    return min(fired, key=lambda e: e.fired_at or 0.0, default=None)
