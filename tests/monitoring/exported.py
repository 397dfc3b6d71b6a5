"""The metric names our exporters really serve, read from their registries (not a list
kept by hand), and a checker for the names a PromQL expression uses."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from serving.replica.metrics import ReplicaMetrics
from serving.router.metrics import RouterMetrics

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "gauge": ("",),
}
_EXPORTED_NAME = re.compile(r"\brecdrill_[A-Za-z0-9_]+")
_RECORDED_NAME = re.compile(r"\brecdrill:[A-Za-z0-9_:]+")


def _names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def exported_metric_names() -> set[str]:
    return _names(ReplicaMetrics().registry) | _names(RouterMetrics().registry)


def unknown_names(expr: str, recorded: Iterable[str]) -> list[str]:
    """Names in ``expr`` that neither an exporter serves nor a recording rule records."""
    exported = exported_metric_names()
    recorded = set(recorded)
    bad = [n for n in _EXPORTED_NAME.findall(expr) if n not in exported]
    bad += [n for n in _RECORDED_NAME.findall(expr) if n not in recorded]
    return bad


def used_names(expr: str) -> set[str]:
    return set(_EXPORTED_NAME.findall(expr)) | set(_RECORDED_NAME.findall(expr))
