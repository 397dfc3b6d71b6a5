"""A tripped safeguard never interrupts a fault action half-way (its state would be lost)."""

from __future__ import annotations

import threading

import pytest

from experiments.controls import safeguard
from experiments.controls.interrupt import ActionGuard
from experiments.probes import recorder

FREEZE = {"type": "action", "name": "freeze-one-replica"}
RECORDER = {"type": "action", "name": "record-timeseries", "background": True}
HOLD = {"type": "probe", "name": "hold-frozen"}


def _guard() -> tuple[ActionGuard, list[str]]:
    fired: list[str] = []
    return ActionGuard(lambda: fired.append("interrupt")), fired


def test_outside_any_action_the_interrupt_is_immediate():
    guard, fired = _guard()
    guard.started(HOLD)  # a probe or a pause may be cut short
    guard.request()
    assert fired == ["interrupt"]


def test_during_a_fault_action_it_waits_for_the_action_to_end():
    guard, fired = _guard()
    guard.started(FREEZE)
    guard.request()
    assert fired == []
    guard.ended(FREEZE)
    assert fired == ["interrupt"] and guard.deferred_for == "freeze-one-replica"
    guard.ended(FREEZE)  # once only
    assert fired == ["interrupt"]


def test_an_action_that_outlasts_the_deferral_is_interrupted_anyway():
    fired: list[str] = []
    done = threading.Event()
    guard = ActionGuard(lambda: (fired.append("interrupt"), done.set()), max_defer_s=0.05)
    guard.started(FREEZE)
    guard.request()
    assert done.wait(5)
    assert fired == ["interrupt"] and "still acting after 0.05 s" in guard.deferred_for
    guard.ended(FREEZE)
    assert fired == ["interrupt"]


def test_the_background_recorder_never_holds_the_interrupt_back():
    guard, fired = _guard()
    guard.started(RECORDER)
    guard.request()
    assert fired == ["interrupt"]


def test_a_reset_guard_forgets_actions_and_deferred_interrupts():
    guard, fired = _guard()
    guard.started(FREEZE)
    guard.request()
    guard.reset()
    guard.ended(FREEZE)
    assert fired == [] and guard.deferred_for is None


@pytest.fixture
def signals(monkeypatch):
    sent: list[bool] = []
    monkeypatch.setattr(safeguard, "exit_gracefully", lambda: sent.append(True))
    safeguard._guard.reset()
    recorder.reset_stop()
    yield sent
    safeguard._guard.reset()
    recorder.reset_stop()


def test_the_control_defers_a_trip_during_an_action_and_notes_it_in_the_journal(
    signals, monkeypatch
):
    monkeypatch.setattr(safeguard, "_watcher", None)
    safeguard.before_activity_control(FREEZE)
    safeguard.stop_the_run()
    assert recorder.recording_stopped() and signals == []  # the recorder stops at once
    safeguard.after_activity_control(FREEZE)
    assert signals == [True]
    journal = {"experiment": {"extensions": []}}
    safeguard.after_experiment_control(context={}, state=journal)
    record = journal["experiment"]["extensions"][0]
    assert record["interrupt_deferred_until_end_of"] == "freeze-one-replica"
