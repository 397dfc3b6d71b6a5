"""Event-log loaders: MovieLens layouts, gzip and Parquet, the shared online-retail data."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from training.dataset import DataError
from training.loaders import ONLINE_RETAIL, ColumnMap, load_event_log


def test_movielens_100k_u_data(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n")
    data = load_event_log(path)
    assert len(data) == 3
    assert data.users == ["186", "196"]
    assert data.items == ["242", "302", "377"]
    first = list(data.items).index("242") + 1
    assert data.timestamp[data.item == first].tolist() == [881250949]


def test_movielens_ratings_csv_gzipped(tmp_path):
    path = tmp_path / "ratings.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n")
    data = load_event_log(path)
    assert (len(data), data.n_users, data.n_items) == (2, 1, 2)


def test_parquet_with_a_column_mapping(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "who": ["a", "b", "a"],
            "sku": ["x", "y", "y"],
            "when": ["2024-01-01 10:00", "2024-01-02", "2024-01-03"],
            "cat": ["c1", "c2", "c2"],
        }
    ).to_parquet(path)
    data = load_event_log(path, ColumnMap(user="who", item="sku", timestamp="when", category="cat"))
    assert data.users == ["a", "b"] and data.items == ["x", "y"]
    assert data.timestamp.min() == pd.Timestamp("2024-01-01 10:00").timestamp()
    assert data.item_category.tolist() == [0, 1, 2]


def test_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating\n1,2,3\n")
    with pytest.raises(DataError, match=r"ratings\.csv.*'timestamp'"):
        load_event_log(path)


@pytest.mark.parametrize("content", ["", "userId,movieId,rating,timestamp\n"])
def test_empty_files_are_refused(tmp_path, content):
    path = tmp_path / "ratings.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=r"ratings\.csv.*(empty|no rows)"):
        load_event_log(path)


def test_unknown_layout_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_event_log(tmp_path / "u.data")
    # a name no preset knows: that it is missing comes first, not "unknown layout"
    with pytest.raises(DataError, match=r"such\.csv: no such file"):
        load_event_log(tmp_path / "such.csv")
    odd = tmp_path / "clicks.csv"
    odd.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="unknown layout"):
        load_event_log(odd)


def test_bad_timestamps_name_the_column(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,2,3,yesterday\n")
    with pytest.raises(DataError, match="'timestamp'"):
        load_event_log(path)


@pytest.mark.skipif(not ONLINE_RETAIL.is_file(), reason=f"shared data absent: {ONLINE_RETAIL}")
def test_online_retail_loads_with_cancellations_and_guests_dropped():
    data = load_event_log(ONLINE_RETAIL, "online-retail")
    assert len(data) == 397_924
    assert (data.n_users, data.n_items) == (4_339, 3_665)
    assert "17850" in data.users  # CustomerID "17850.0" becomes "17850"
    assert data.n_categories > 50 and data.n_brands > 50
    assert data.item_category[1:].min() >= 1
