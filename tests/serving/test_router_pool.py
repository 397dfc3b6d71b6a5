"""Pool selection and health bookkeeping with a hand-driven clock (no network)."""

from __future__ import annotations

import random

import pytest

from serving.router.upstreams import Pool, PoolSettings, UpstreamSpec


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_pool(n_active: int = 6, n_standby: int = 1, **settings) -> tuple[Pool, Clock]:
    clock = Clock()
    pool = Pool(PoolSettings(**settings), rng=random.Random(7), clock=clock)
    zones = ["a", "b", "c"]
    specs = [
        UpstreamSpec(f"act-{i}", f"http://h:{1000 + i}", "active", zones[i % 3], ready=True)
        for i in range(n_active)
    ] + [
        UpstreamSpec(f"sb-{i}", f"http://h:{2000 + i}", "standby", zones[i % 3], ready=True)
        for i in range(n_standby)
    ]
    pool.update(specs)
    return pool, clock


def test_standby_gets_nothing_while_active_capacity_is_healthy():
    pool, _ = make_pool()
    picks = [pool.choose().role for _ in range(500)]
    assert picks.count("standby") == 0


def test_standby_takes_an_equal_share_when_active_capacity_drops():
    pool, _ = make_pool(standby_threshold=0.72)
    for up in pool.by_role("active")[:2]:
        pool.record_failure(up, "connect_error")
    share = pool.active_share()
    assert share == pytest.approx(4 / 5), "4 actives and the standby, a fifth each"
    picks = [pool.choose().role for _ in range(4000)]
    assert picks.count("standby") / 4000 == pytest.approx(1 / 5, abs=0.03)
    assert all(u.id not in ("act-0", "act-1") for u in [pool.choose() for _ in range(200)])
    assert pool.serving_capacity() == pytest.approx(5.0), "every survivor at its capacity"


def test_serving_capacity_counts_the_standby_only_once_traffic_spills_to_it():
    pool, _ = make_pool(standby_threshold=0.72)
    assert pool.serving_capacity() == 6.0, "healthy: the standby takes nothing"
    pool.record_failure(pool.by_role("active")[0], "connect_error")
    assert pool.active_share() == 1.0
    assert pool.serving_capacity() == 5.0, "5 of 6 is above the threshold: no spill"
    no_standby, _ = make_pool(n_standby=0)
    for up in no_standby.by_role("active")[:2]:
        no_standby.record_failure(up, "connect_error")
    assert no_standby.serving_capacity() == 4.0
    for up in no_standby.by_role("active"):
        no_standby.record_failure(up, "connect_error")
    assert no_standby.serving_capacity() == 0.0


def test_lost_replicas_that_left_discovery_still_count_against_the_threshold():
    # A zone of 3 x 2 lost: its pods leave discovery, so 4 of 4 listed are healthy.
    listed, _ = make_pool(n_active=4, n_standby=1)
    assert listed.active_share() == 1.0, "without the expected count the standby idles"
    assert listed.serving_capacity() == 4.0
    pool, _ = make_pool(n_active=4, n_standby=1, expected_active=6)
    assert pool.active_share() == pytest.approx(4 / 5)
    assert pool.serving_capacity() == pytest.approx(5.0)
    grown, _ = make_pool(n_active=9, n_standby=1, expected_active=6)
    assert grown.active_share() == 1.0, "an autoscaled pool larger than asked is its own size"


def test_a_zero_threshold_never_spills_until_no_active_is_left():
    pool, _ = make_pool(standby_threshold=0.0)
    for up in pool.by_role("active")[:5]:
        pool.record_failure(up, "connect_error")
    assert pool.active_share() == 1.0
    pool.record_failure(pool.by_role("active")[5], "connect_error")
    assert pool.active_share() == 0.0
    assert pool.serving_capacity() == 1.0, "the standby alone"


def test_no_active_left_sends_everything_to_standby_and_none_left_gives_none():
    pool, _ = make_pool(n_active=2, n_standby=1)
    for up in pool.by_role("active"):
        pool.record_failure(up, "connect_error")
    assert {pool.choose().role for _ in range(50)} == {"standby"}
    pool.record_failure(pool.by_role("standby")[0], "connect_error")
    assert pool.choose() is None


def test_timeouts_eject_only_after_a_run_and_never_past_the_max_share():
    pool, _ = make_pool(n_active=4, n_standby=0, eject_after=2, max_ejected_share=0.5)
    ups = pool.by_role("active")
    pool.record_failure(ups[0], "timeout")
    assert ups[0].state(pool.clock()) == "healthy"
    pool.record_failure(ups[0], "timeout")
    assert ups[0].state(pool.clock()) == "ejected"
    for up in ups[1:]:
        pool.record_failure(up, "timeout")
        pool.record_failure(up, "timeout")
    assert sum(u.ejected(pool.clock()) for u in ups) == 2, "at most half the pool is ejected"
    pool.record_failure(ups[3], "connect_error")
    assert ups[3].ejected(pool.clock()), "a refused connection ejects regardless of the share"


def test_success_resets_the_failure_run():
    pool, _ = make_pool(n_active=3, n_standby=0, eject_after=2)
    up = pool.by_role("active")[0]
    pool.record_failure(up, "upstream_500")
    pool.record_success(up)
    pool.record_failure(up, "upstream_500")
    assert not up.ejected(pool.clock())


def test_ejected_upstream_comes_back_only_after_its_time_and_a_passing_probe():
    pool, clock = make_pool(n_active=3, n_standby=0, eject_base_s=1.0)
    up = pool.by_role("active")[0]
    pool.record_failure(up, "connect_error")
    pool.record_probe(up, True)
    assert not up.available(clock())
    clock.now += 1.1
    assert not up.available(clock()), "ejection over, but no probe has passed yet"
    pool.record_probe(up, True)
    assert up.available(clock())
    pool.record_failure(up, "connect_error")
    assert up.ejected_until - clock() == pytest.approx(2.0), "a probe alone keeps the back-off"
    clock.now = up.ejected_until + 0.01
    pool.record_probe(up, True)
    pool.record_success(up)
    pool.record_failure(up, "connect_error")
    assert up.ejected_until - clock() == pytest.approx(1.0), "a served request resets it"


def test_repeated_ejections_back_off():
    pool, clock = make_pool(n_active=3, n_standby=0, eject_base_s=1.0, eject_max_s=3.0)
    up = pool.by_role("active")[0]
    spans = []
    for _ in range(4):
        pool.record_failure(up, "connect_error")
        spans.append(round(up.ejected_until - clock(), 3))
        clock.now = up.ejected_until + 0.01
    assert spans == [1.0, 2.0, 3.0, 3.0]


def test_probe_failures_mark_unhealthy_after_threshold():
    pool, _ = make_pool(n_active=3, n_standby=0, unhealthy_after=2)
    up = pool.by_role("active")[0]
    pool.record_probe(up, False)
    assert up.healthy
    pool.record_probe(up, False)
    assert not up.healthy


def test_membership_update_keeps_state_of_known_urls_and_drops_gone_ones():
    pool, _ = make_pool(n_active=3, n_standby=0)
    first = pool.by_role("active")[0]
    pool.record_failure(first, "connect_error")
    pool.update([first.spec, UpstreamSpec("new", "http://h:9", "active", "a")])
    assert pool.upstreams[first.url] is first and first.ejected(pool.clock())
    assert pool.upstreams["http://h:9"].healthy is False, "new upstreams wait for a probe"
    assert len(pool.upstreams) == 2


def test_choose_skips_tried_and_prefers_other_zones():
    pool, _ = make_pool(n_active=6, n_standby=0)
    tried = [u for u in pool.by_role("active") if u.zone == "a"]
    for _ in range(50):
        pick = pool.choose(tried)
        assert pick.zone != "a"
