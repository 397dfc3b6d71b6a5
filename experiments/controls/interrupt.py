"""When a tripped safeguard may interrupt the run: never half-way through a fault action.

SIGUSR1 (``chaoslib.exit.exit_gracefully``) raises ``SystemExit`` in the main thread
wherever it is. Inside a fault action that has already changed the system but not yet
written its rollback state (``freeze_replicas`` stops the replicas, then records them),
that loses the record: the rollback and the state-file backstop then find nothing to
undo and the replicas stay frozen. So the interrupt waits for the foreground action in
progress to end (each has its own timeouts); probes, pauses and background activities
such as the recorder are interrupted at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ActionGuard", "is_foreground_action"]


def is_foreground_action(activity: Any) -> bool:
    return (
        isinstance(activity, dict)
        and activity.get("type") == "action"
        and not activity.get("background")
    )


class ActionGuard:
    """Counts foreground actions in progress and holds an interrupt back until none is."""

    def __init__(self, interrupt: Callable[[], None]) -> None:
        self._interrupt = interrupt
        self._lock = threading.Lock()
        self._acting = 0
        self._deferred = False
        self.deferred_for: str | None = None

    def reset(self) -> None:
        with self._lock:
            self._acting, self._deferred, self.deferred_for = 0, False, None

    def request(self) -> None:
        """Interrupt now, or as soon as the action in progress ends."""
        with self._lock:  # held while signalling: no action can start in between
            if self._acting:
                self._deferred = True
                return
            self._interrupt()

    def started(self, activity: Any) -> None:
        if is_foreground_action(activity):
            with self._lock:
                self._acting += 1

    def ended(self, activity: Any) -> None:
        if not is_foreground_action(activity):
            return
        with self._lock:
            self._acting = max(0, self._acting - 1)
            fire = self._deferred and not self._acting
            if fire:
                self._deferred = False
                self.deferred_for = str(activity.get("name"))
        if fire:
            self._interrupt()
