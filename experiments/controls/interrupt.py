"""When a tripped safeguard may interrupt the run: never half-way through a fault action.

SIGUSR1 (``chaoslib.exit.exit_gracefully``) raises ``SystemExit`` in the main thread
wherever it is. Inside a fault action that has already changed the system but not yet
written its rollback state (``freeze_replicas`` stops the replicas, then records them),
that loses the record: the rollback and the state-file backstop then find nothing to
undo and the replicas stay frozen. So the interrupt waits for the foreground action in
progress to end (each has its own timeouts); probes, pauses and background activities
such as the recorder are interrupted at once. It waits at most ``MAX_DEFER_S``: an action
that runs longer (restarts that never come back ready) is itself the harm, so it is
interrupted anyway; drivers that record their state first (aws, kubernetes, the store
faults) lose nothing then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEFER_S", "ActionGuard", "is_foreground_action"]

MAX_DEFER_S = 30.0


def is_foreground_action(activity: Any) -> bool:
    return (
        isinstance(activity, dict)
        and activity.get("type") == "action"
        and not activity.get("background")
    )


class ActionGuard:
    """Counts foreground actions in progress and holds an interrupt back until none is."""

    def __init__(self, interrupt: Callable[[], None], max_defer_s: float = MAX_DEFER_S) -> None:
        self._interrupt = interrupt
        self.max_defer_s = max_defer_s
        self._lock = threading.Lock()
        self._acting = 0
        self._deferred = False
        self._timer: threading.Timer | None = None
        self.deferred_for: str | None = None

    def reset(self) -> None:
        with self._lock:
            self._acting, self._deferred, self.deferred_for = 0, False, None
            self._cancel_timer()

    def request(self) -> None:
        """Interrupt now, or when the action in progress ends (at most ``max_defer_s``)."""
        with self._lock:  # held while signalling: no action can start in between
            if self._acting:
                self._deferred = True
                self._timer = threading.Timer(self.max_defer_s, self._overdue)
                self._timer.daemon = True
                self._timer.start()
                return
            self._interrupt()

    def _overdue(self) -> None:
        with self._lock:
            if not self._deferred:
                return
            self._deferred = False
            self.deferred_for = f"(none: still acting after {self.max_defer_s:g} s)"
            self._interrupt()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

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
                self._cancel_timer()
                self.deferred_for = str(activity.get("name"))
        if fire:
            self._interrupt()
