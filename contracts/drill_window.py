"""Drill windows: the hours, in a timezone, when a drill may run against an environment.

A window is ``{"days": "mon-fri", "start": "02:00", "end": "05:00", "tz": "Europe/Berlin"}``.
``days`` is ``daily`` or a comma list of days and day ranges (``mon-wed,sat``). A window
whose end is not after its start runs past midnight: it belongs to the day it starts on.
The timezone is an IANA name, so daylight-saving shifts are the timezone database's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class DrillWindowError(ValueError):
    """A drill window that cannot be understood; the message names the bad field."""


def _days(text: Any, where: str) -> frozenset[int]:
    if not isinstance(text, str) or not text.strip():
        raise DrillWindowError(f"{where}.days must be text like 'mon-fri', got {text!r}")
    if text.strip().lower() == "daily":
        return frozenset(range(7))
    found: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(end not in DAYS for end in ends):
            raise DrillWindowError(
                f"{where}.days: {part!r} is not a day or day range ({', '.join(DAYS)}, daily)"
            )
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        found.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(found)


def _clock(text: Any, where: str) -> time:
    match = _CLOCK.match(text) if isinstance(text, str) else None
    if match is None:
        raise DrillWindowError(f"{where} must be a 24-hour HH:MM time, got {text!r}")
    return time(int(match[1]), int(match[2]))


def _zone(name: Any, where: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise DrillWindowError(f"{where} tz must be an IANA timezone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DrillWindowError(f"{where} tz {name!r} is not a known timezone") from exc


@dataclass(frozen=True)
class DrillWindow:
    days: str
    start: str
    end: str
    tz: str

    def __post_init__(self) -> None:
        self.day_numbers()
        _clock(self.start, "start")
        _clock(self.end, "end")
        self.zone()

    def day_numbers(self) -> frozenset[int]:
        return _days(self.days, "drill window")

    def zone(self) -> ZoneInfo:
        return _zone(self.tz, "drill window")

    @classmethod
    def from_json(cls, data: Any, where: str = "drill window") -> DrillWindow:
        if not isinstance(data, dict):
            raise DrillWindowError(f"{where} must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"days", "start", "end", "tz"})
        if unknown:
            raise DrillWindowError(f"{where} has unknown keys {unknown} (days, start, end, tz)")
        missing = [k for k in ("days", "start", "end", "tz") if k not in data]
        if missing:
            raise DrillWindowError(f"{where} is missing {', '.join(missing)}")
        _days(data["days"], where)
        _clock(data["start"], f"{where}.start")
        _clock(data["end"], f"{where}.end")
        _zone(data["tz"], where)
        return cls(data["days"], data["start"], data["end"], data["tz"])

    def to_json(self) -> dict[str, str]:
        return {"days": self.days, "start": self.start, "end": self.end, "tz": self.tz}

    def contains(self, moment: datetime) -> bool:
        """Whether the aware ``moment`` falls inside the window (start inclusive)."""
        if moment.tzinfo is None:
            raise ValueError("contains() needs a timezone-aware datetime")
        local = moment.astimezone(self.zone())
        start, end = _clock(self.start, "start"), _clock(self.end, "end")
        days, now = self.day_numbers(), local.time().replace(second=0, microsecond=0)
        if start < end:
            return local.weekday() in days and start <= now < end
        yesterday = (local - timedelta(days=1)).weekday()
        return (local.weekday() in days and now >= start) or (yesterday in days and now < end)

    def describe(self) -> str:
        return f"{self.days} {self.start}-{self.end} {self.tz}"
