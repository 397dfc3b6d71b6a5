"""A named wait, so holding a fault shows in the journal as an activity with start and end."""

from __future__ import annotations

import time

__all__ = ["hold"]


def hold(seconds: float) -> float:
    """Wait ``seconds`` (for example while a fault is held) and return the time waited."""
    started = time.monotonic()
    time.sleep(max(0.0, float(seconds)))
    return round(time.monotonic() - started, 3)
