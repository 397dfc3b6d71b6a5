"""Waiting for capacity: recovery counts only when it was seen within the RTO."""

from __future__ import annotations

import time

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.probes.capacity import wait_until_capacity

FULL = {"ready": 2, "zones": {"a": 1, "b": 1}}
SHORT = {"ready": 1, "zones": {"a": 1, "b": 0}}


def reads(*answers: dict, delay_s: float = 0.0):
    left = list(answers)

    def read() -> dict:
        time.sleep(delay_s)
        return left.pop(0) if len(left) > 1 else left[0]

    return read


def test_capacity_back_within_the_rto_reports_when() -> None:
    got = wait_until_capacity(reads(SHORT, SHORT, FULL), 1, 0, 5.0, lambda: None)
    assert got["ready"] == 2 and 0 <= got["recovered_after_s"] < 5.0


def test_still_short_at_the_rto_fails_naming_the_zone() -> None:
    with pytest.raises(ActivityFailed, match=r"within 0 s: zones short.*'b': 0"):
        wait_until_capacity(reads(SHORT), 1, 0, 0.2, lambda: time.sleep(0.05))


def test_full_capacity_seen_only_after_the_rto_is_still_a_miss() -> None:
    """A slow API answering 'all back' after the deadline must not pass at 31 s of 30."""
    with pytest.raises(ActivityFailed, match="only seen after"):
        wait_until_capacity(reads(FULL, delay_s=0.3), 1, 0, 0.2, lambda: None)


def test_kubernetes_needs_at_least_one_zone() -> None:
    empty = {"ready": 0, "zones": {}}
    with pytest.raises(ActivityFailed, match="no zone"):
        wait_until_capacity(reads(empty), 1, 0, 0.1, lambda: None, need_zones=True)
