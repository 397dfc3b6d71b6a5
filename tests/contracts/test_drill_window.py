"""Drill windows: days, overnight spans and timezones (with daylight saving), and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.deployment import Deployment, DeploymentError
from contracts.drill_window import DrillWindow, DrillWindowError
from tests.experiments.fakes import deployment

BERLIN_NIGHTS = {"days": "mon-fri", "start": "02:00", "end": "05:00", "tz": "Europe/Berlin"}


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (_utc(2026, 12, 1, 1, 0), True),  # Tue 02:00 in Berlin (UTC+1): start is inside
        (_utc(2026, 12, 1, 3, 59), True),  # Tue 04:59 Berlin
        (_utc(2026, 12, 1, 4, 0), False),  # Tue 05:00 Berlin: the end is outside
        (_utc(2026, 12, 1, 0, 30), False),  # Tue 01:30 Berlin: before the start
        (_utc(2026, 12, 5, 2, 0), False),  # Saturday
        (_utc(2026, 7, 7, 0, 30), True),  # Tue 02:30 in summer (UTC+2)
        (_utc(2026, 7, 7, 2, 30), True),  # Tue 04:30 Berlin in summer
        (_utc(2026, 7, 7, 3, 30), False),  # Tue 05:30 Berlin in summer (in winter: inside)
    ],
)
def test_window_follows_its_timezone_and_days(moment, inside):
    assert DrillWindow.from_json(BERLIN_NIGHTS).contains(moment) is inside


def test_an_overnight_window_belongs_to_the_day_it_starts():
    fri_night = DrillWindow.from_json(
        {"days": "fri", "start": "22:00", "end": "03:00", "tz": "UTC"}
    )
    assert fri_night.contains(_utc(2026, 12, 4, 23, 0))  # Friday 23:00
    assert fri_night.contains(_utc(2026, 12, 5, 2, 0))  # Saturday 02:00, still Friday's night
    assert not fri_night.contains(_utc(2026, 12, 5, 23, 0))  # Saturday night is not declared
    assert not fri_night.contains(_utc(2026, 12, 4, 2, 0))  # Friday 02:00 is Thursday's night


def test_day_lists_and_wrapping_ranges():
    window = DrillWindow.from_json(
        {"days": "sat-mon,wed", "start": "00:00", "end": "23:59", "tz": "UTC"}
    )
    monday = _utc(2026, 11, 30, 12, 0)
    inside = [window.contains(monday + timedelta(days=d)) for d in range(7)]
    assert inside == [True, False, True, False, False, True, True]


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        DrillWindow.from_json(BERLIN_NIGHTS).contains(datetime(2026, 12, 1, 2, 0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"days": "mon-funday"}, "days: 'mon-funday' is not a day"),
        ({"start": "2am"}, "start must be a 24-hour HH:MM time, got '2am'"),
        ({"end": "24:00"}, "end must be a 24-hour HH:MM time"),
        ({"tz": "Mars/Olympus"}, "tz 'Mars/Olympus' is not a known timezone"),
        ({"colour": "blue"}, "unknown keys ['colour']"),
    ],
)
def test_bad_windows_name_the_field(change, message):
    with pytest.raises(DrillWindowError, match=message.replace("(", r"\(").replace("[", r"\[")):
        DrillWindow.from_json({**BERLIN_NIGHTS, **change})


def test_safety_keys_round_trip_through_the_description():
    body = deployment(
        environment_kind="production", drill_windows=[BERLIN_NIGHTS], traffic_ceiling_rps=80
    )
    parsed = Deployment.from_json(body)
    assert parsed.production and parsed.drill_windows[0].tz == "Europe/Berlin"
    assert parsed.traffic_ceiling_rps == 80.0
    assert Deployment.from_json(parsed.to_json()) == parsed
    assert "drill_windows" not in parsed.extras


def test_a_description_without_safety_keys_writes_none_of_them():
    parsed = Deployment.from_json(deployment())
    assert not parsed.production
    assert {"environment_kind", "drill_windows", "traffic_ceiling_rps"}.isdisjoint(parsed.to_json())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environment_kind": "prod"}, "'environment_kind' must be one of production"),
        ({"drill_windows": {"days": "mon"}}, "'drill_windows' must be a list"),
        ({"drill_windows": [{**BERLIN_NIGHTS, "tz": "Nowhere/X"}]}, r"drill_windows\[0\] tz"),
        ({"traffic_ceiling_rps": 0}, "'traffic_ceiling_rps' must be above 0"),
        ({"traffic_ceiling_rps": "lots"}, "'traffic_ceiling_rps' must be a finite number"),
    ],
)
def test_bad_safety_keys_are_refused_by_name(change, message):
    with pytest.raises(DeploymentError, match=message):
        Deployment.from_json(deployment(**change))
