"""The background recorder: its series, and the early stop a tripped safeguard asks for."""

from __future__ import annotations

import json
import threading
import time

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.controls import safeguard
from experiments.probes import recorder
from tests.experiments.fakes import json_server

ANSWER = {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": False}


@pytest.fixture(autouse=True)
def _fresh_stop():
    recorder.reset_stop()
    yield
    recorder.reset_stop()


def test_an_unstopped_recording_covers_its_whole_duration(tmp_path):
    path = tmp_path / "series.json"
    with json_server(lambda *a: (200, ANSWER)) as server:
        summary = recorder.record_timeseries(server.url, str(path), "x", 0.5, 20.0, 1.0)
    series = json.loads(path.read_text())
    assert summary["stopped_early"] is False and summary["recorded_s"] == 0.5
    assert len(series["samples"]) == 5
    assert summary["requests"] == 10 and summary["errors"] == 0


def test_stop_recording_ends_a_running_recording_and_keeps_what_it_saw(tmp_path):
    path = tmp_path / "series.json"
    done: dict = {}
    with json_server(lambda *a: (200, ANSWER)) as server:
        worker = threading.Thread(
            target=lambda: done.update(
                recorder.record_timeseries(server.url, str(path), "x", 60.0, 20.0, 1.0)
            )
        )
        worker.start()
        while len(server.requests) < 10:  # it is recording
            worker.join(0.05)
        recorder.stop_recording()
        worker.join(10)
    assert not worker.is_alive(), "the recorder ran on after stop_recording()"
    assert done["stopped_early"] is True and done["recorded_s"] < 60.0
    series = json.loads(path.read_text())
    assert 1 <= len(series["samples"]) < 600
    # What was answered before the stop is kept (a request still in flight is not).
    assert sum(s["requests"] for s in series["samples"]) == done["requests"] >= 1


def test_reset_stop_lets_the_next_recording_run_in_full(tmp_path):
    recorder.stop_recording()
    recorder.reset_stop()
    with json_server(lambda *a: (200, ANSWER)) as server:
        summary = recorder.record_timeseries(server.url, str(tmp_path / "s.json"), "x", 0.3, 20.0)
    assert summary["stopped_early"] is False


def test_a_safeguard_trip_stops_the_recording_before_it_interrupts(monkeypatch):
    order: list[str] = []
    monkeypatch.setattr(
        safeguard, "exit_gracefully", lambda: order.append(f"exit {recorder.recording_stopped()}")
    )
    safeguard.stop_the_run()
    assert order == ["exit True"]


def test_a_new_method_clears_a_previous_stop(monkeypatch):
    recorder.stop_recording()
    monkeypatch.setattr(safeguard, "_arguments", {"endpoint": "http://127.0.0.1:9"})
    monkeypatch.setattr(safeguard.Watcher, "start", lambda self: None)
    safeguard.before_method_control(context={})
    assert recorder.recording_stopped() is False


def _recording_in_thread(url: str, path, done: dict, duration_s: float = 60.0):
    worker = threading.Thread(
        target=lambda: done.update(
            recorder.record_timeseries(url, str(path), "x", duration_s, 20.0, 1.0)
        )
    )
    worker.start()
    return worker


def test_end_recording_ends_the_series_that_long_after_the_method_and_answers_the_rest(tmp_path):
    path = tmp_path / "series.json"
    done: dict = {}
    with json_server(lambda *a: (200, ANSWER)) as server:
        worker = _recording_in_thread(server.url, path, done)
        while len(server.requests) < 4:  # the method is running
            worker.join(0.05)
        ended = time.time()
        assert recorder.end_recording(0.5)["after_s"] == 0.5
        worker.join(10)
    assert not worker.is_alive(), "the recorder ran on to its 60 s ceiling"
    assert done["ended_by_method"] is True and done["stopped_early"] is False
    series = json.loads(path.read_text())
    assert series["started"] + done["recorded_s"] == pytest.approx(ended + 0.5, abs=0.1)
    assert len(series["samples"]) == round(done["recorded_s"] / 0.1)
    # Every request sent before the end was answered and is in the series: none cut off.
    assert sum(s["requests"] for s in series["samples"]) == done["requests"] == len(server.requests)


def test_an_end_set_for_an_earlier_recording_does_not_cut_the_next_one(tmp_path):
    recorder.end_recording(0.0)
    with json_server(lambda *a: (200, ANSWER)) as server:
        summary = recorder.record_timeseries(server.url, str(tmp_path / "s.json"), "x", 0.5, 20.0)
    assert summary["ended_by_method"] is False and summary["recorded_s"] == 0.5
    assert summary["requests"] == 10


def test_an_end_after_the_ceiling_leaves_the_full_duration(tmp_path):
    done: dict = {}
    with json_server(lambda *a: (200, ANSWER)) as server:
        worker = _recording_in_thread(server.url, tmp_path / "s.json", done, duration_s=0.6)
        while not server.requests:
            worker.join(0.02)
        recorder.end_recording(30.0)
        worker.join(10)
    assert done["ended_by_method"] is False and done["recorded_s"] == 0.6


def test_end_recording_refuses_a_negative_tail():
    with pytest.raises(ActivityFailed, match="after_s must be >= 0"):
        recorder.end_recording(-1.0)
