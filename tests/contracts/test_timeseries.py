"""The time series file: what the recorder writes is what the report reads."""

from __future__ import annotations

import json

import pytest

from contracts.timeseries import (
    Sample,
    TimeSeries,
    TimeSeriesError,
    load_timeseries,
    timeseries_path,
    write_timeseries,
)


def test_written_series_reads_back_equal(tmp_path):
    series = TimeSeries(
        "zone-loss",
        0.1,
        1_700_000_000.5,
        [Sample(0.0, 4, 0, 1, 12.5, shed=0), Sample(0.1, 4, 1, 0, None, shed=2)],
    )
    path = tmp_path / "journals" / "zone-loss.timeseries.json"
    write_timeseries(series, path)
    assert load_timeseries(path) == series
    assert not list(path.parent.glob(".*.tmp"))


def test_path_sits_next_to_the_journal(tmp_path):
    assert timeseries_path(tmp_path / "a.json") == tmp_path / "a.timeseries.json"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"started": 1.0}, "no 'samples' list"),
        ({"started": 1.0, "samples": [3]}, "sample 0 is not an object"),
        ({"started": 1.0, "samples": [{"t": "x"}]}, "sample 0 t"),
        ({"samples": []}, "started"),
        ({"started": 1.0, "samples": [{"t": 0, "p99_ms": float("nan")}]}, "sample 0 p99_ms"),
    ],
)
def test_malformed_series_is_refused_naming_the_field(tmp_path, body, named):
    path = tmp_path / "x.timeseries.json"
    path.write_text(json.dumps(body))
    with pytest.raises(TimeSeriesError, match=named):
        load_timeseries(path)
