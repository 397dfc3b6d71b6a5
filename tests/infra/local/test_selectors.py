"""Label selectors and count/percent picking used by the control API."""

from __future__ import annotations

import random

import pytest

from infra.local.selectors import SelectorError, matches, parse_selector, pick

LABELS = {"app": "recdrill-replica", "role": "active", "zone": "local-a", "replica": "local-a-0"}


def test_equality_selectors_match_labels():
    assert matches(parse_selector("zone=local-a,role=active"), LABELS)
    assert matches(parse_selector(" role == active "), LABELS)
    assert not matches(parse_selector("zone=local-b"), LABELS)
    assert not matches(parse_selector("tier=gold"), LABELS)
    assert matches(parse_selector(""), LABELS) and matches(parse_selector(None), LABELS)


@pytest.mark.parametrize(
    "text", ["zone", "zone!=local-a", "zone=a=b", "=x", "zone=local-a,zone=local-b", "bad key=x"]
)
def test_bad_selectors_say_what_is_wrong(text):
    with pytest.raises(SelectorError) as err:
        parse_selector(text)
    assert str(err.value)


def test_pick_by_count_and_percent():
    items = list(range(7))
    rng = random.Random(1)
    assert len(pick(items, count=2, rng=rng)) == 2
    assert len(pick(items, count=20, rng=rng)) == 7
    assert len(pick(items, percent=50, rng=rng)) == 4, "rounded up"
    assert len(pick(items, percent=0, rng=rng)) == 0
    assert pick(items) == items
    assert len(set(pick(items, count=5, rng=rng))) == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"count": -1}, {"count": 1.5}, {"count": True}, {"percent": 101}, {"percent": "x"},
     {"count": 1, "percent": 10}],
)  # fmt: skip
def test_bad_counts_are_refused(kwargs):
    with pytest.raises(SelectorError):
        pick([1, 2, 3], **kwargs)
