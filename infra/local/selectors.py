"""Label selectors (Kubernetes equality form ``k=v,k2=v2``) and count/percent picking.

The control API and the Kubernetes faults speak the same selector vocabulary, so a chaos
experiment written against labels works on both platforms.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

_KEY = re.compile(r"^([a-z0-9A-Z]([a-z0-9A-Z._/-]{0,251}[a-z0-9A-Z])?)$")
_VALUE = re.compile(r"^([a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?)?$")


class SelectorError(ValueError):
    """A selector, count or percentage the caller got wrong (the API answers 400)."""


def parse_selector(text: str | None) -> dict[str, str]:
    """Parse ``k=v,k2=v2`` (``==`` accepted); an empty selector matches everything."""
    if text is None or not text.strip():
        return {}
    if not isinstance(text, str):
        raise SelectorError(f"selector must be a string, got {type(text).__name__}")
    wanted: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if "!=" in part or "=" not in part:
            raise SelectorError(
                f"selector term {part!r} is not of the form key=value (only equality is supported)"
            )
        key, _, value = part.replace("==", "=", 1).partition("=")
        key, value = key.strip(), value.strip()
        if not _KEY.match(key):
            raise SelectorError(f"selector key {key!r} is not a valid label key")
        if not _VALUE.match(value) or "=" in value:
            raise SelectorError(f"selector value {value!r} for key {key!r} is not a valid label")
        if key in wanted and wanted[key] != value:
            raise SelectorError(f"selector gives key {key!r} two different values")
        wanted[key] = value
    return wanted


def matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pick(
    items: Sequence[T],
    count: int | None = None,
    percent: float | None = None,
    rng: random.Random | None = None,
) -> list[T]:
    """Choose ``count`` items, or ``percent`` % of them (rounded up), at random; else all."""
    if count is not None and percent is not None:
        raise SelectorError("give either count or percent, not both")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SelectorError(f"count must be a non-negative integer, got {count!r}")
        n = count
    elif percent is not None:
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise SelectorError(f"percent must be a number, got {percent!r}")
        if not 0 <= percent <= 100:
            raise SelectorError(f"percent must be between 0 and 100, got {percent!r}")
        n = math.ceil(len(items) * percent / 100)
    else:
        return list(items)
    rng = rng or random.Random()
    return rng.sample(list(items), min(n, len(items)))
