"""Controller bookkeeping without processes: layout, description, back-off, config errors."""

from __future__ import annotations

import os
import sys

import pytest

from infra.local import commands
from infra.local.config import ControllerConfig, write_private, zone_names
from infra.local.controller import Controller
from infra.local.selectors import SelectorError
from serving.replica.settings import parse_settings
from serving.router.cli import parser as router_parser


def config(tmp_path, **kw) -> ControllerConfig:
    return ControllerConfig(
        workdir=str(tmp_path), store="file:///s", model="recommender", token="t", **kw
    )


def test_layout_ids_zones_and_spread_standby(tmp_path):
    ctl = Controller(config(tmp_path, zones=3, replicas_per_zone=2, standby=2))
    assert [s.id for s in ctl.slots] == [
        "local-a-0", "local-a-1", "local-b-0", "local-b-1", "local-c-0", "local-c-1",
        "standby-0", "standby-1",
    ]  # fmt: skip
    standby_zones = [s.zone for s in ctl.slots if s.role == "standby"]
    assert len(set(standby_zones)) == 2, "standby replicas are spread over zones"
    labels = ctl.slots[0].labels
    assert labels["app"] == "recdrill-replica" and labels["role"] == "active"
    assert labels["zone"] == "local-a" and labels["replica"] == "local-a-0"


def test_selection_over_labels(tmp_path):
    ctl = Controller(config(tmp_path))
    assert [s.id for s in ctl.select("zone=local-b,role=active")] == ["local-b-0", "local-b-1"]
    assert [s.id for s in ctl.select("role=standby")] == ["standby-0"]


def test_crash_back_off_grows_and_is_capped(tmp_path):
    ctl = Controller(config(tmp_path, backoff_base=0.5, backoff_max=4.0))
    assert [ctl._backoff(n) for n in range(1, 7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]


def test_zone_down_marks_pending_and_reschedules_after_the_delay(tmp_path):
    ctl = Controller(config(tmp_path, reschedule_delay=2.0))
    ctl.stopping = True  # bookkeeping only: nothing may be started in this test
    ctl.zone_down("local-a")
    since = ctl.zone_down_since["local-a"]
    ctl.reconcile(since + 0.5)
    assert {s.state for s in ctl.select("zone=local-a")} == {"pending"}
    ctl.reconcile(since + 2.1)
    moved = [s for s in ctl.slots if s.home_zone == "local-a"]
    assert all(s.zone in ("local-b", "local-c") for s in moved)
    assert {s.zone for s in moved} == {"local-b", "local-c"}, "spread, not piled in one zone"


def test_hung_zone_stays_put_until_the_eviction_delay_then_is_rescheduled(tmp_path):
    ctl = Controller(config(tmp_path, reschedule_delay=2.0, eviction_delay=10.0))
    ctl.stopping = True
    ctl.zone_hang("local-a")
    since = ctl.zone_down_since["local-a"]
    ctl.reconcile(since + 9.5)
    assert ctl.zones["local-a"] == "hung"
    assert {s.zone for s in ctl.slots if s.home_zone == "local-a"} == {"local-a"}
    ctl.reconcile(since + 10.1)  # evicted: the zone is now lost, replaced after the delay
    assert ctl.zones["local-a"] == "down"
    ctl.reconcile(since + 10.1 + 2.1)
    moved = [s for s in ctl.slots if s.home_zone == "local-a"]
    assert {s.zone for s in moved} == {"local-b", "local-c"}


def test_only_an_up_zone_can_hang(tmp_path):
    ctl = Controller(config(tmp_path))
    ctl.stopping = True
    ctl.zone_down("local-a")
    with pytest.raises(SelectorError, match=r"local-a.*down, not up"):
        ctl.zone_hang("local-a")
    with pytest.raises(SelectorError, match="unknown zone"):
        ctl.zone_hang("local-z")


def test_deployment_description_has_the_contract_keys(tmp_path):
    cfg = config(tmp_path, router_options={"retries": 0})
    cfg.control_port, cfg.router_port = 1234, 5678
    d = cfg.deployment()
    for key in ("environment", "platform", "endpoint", "zones", "zone_label", "namespace",
                "selectors", "replicas_per_zone", "standby_replicas", "model_store", "slo",
                "control"):  # fmt: skip
        assert key in d
    assert d["endpoint"] == "http://127.0.0.1:5678"
    assert d["control"] == {"url": "http://127.0.0.1:1234", "token": "t"}
    assert d["router_options"] == {"retries": 0}
    path = tmp_path / "deployment.json"
    write_private(path, d)
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "kw", [{"zones": 0}, {"replicas_per_zone": 0}, {"standby": -1}, {"reschedule_delay": -1}]
)
def test_bad_sizes_are_refused(tmp_path, kw):
    with pytest.raises(ValueError, match="--"):
        config(tmp_path, **kw)


def test_zone_names():
    assert zone_names(3) == ["local-a", "local-b", "local-c"]


def test_replica_argv_is_the_replica_settings_command(tmp_path, monkeypatch):
    monkeypatch.delenv("RECDRILL_DRAIN_GRACE", raising=False)
    ctl = Controller(config(tmp_path, drain_grace=1.5, replica_poll_interval=0.3))
    slot = ctl.slots[2]
    slot.port = 9123
    args = commands.replica_args(ctl.config, ctl.workdir, slot.id, slot.zone, slot.port)
    settings = parse_settings(args)
    assert (settings.store, settings.model, settings.zone) == (
        "file:///s",
        "recommender",
        slot.zone,
    )
    assert (settings.port, settings.replica_id, settings.host) == (slot.port, slot.id, "127.0.0.1")
    assert (settings.drain_grace_s, settings.poll_interval_s) == (1.5, 0.3)
    assert settings.cache_dir == ctl.workdir / "cache" / slot.id


def test_router_argv_carries_the_router_options(tmp_path):
    cfg = config(tmp_path, router_options={"retries": 0, "fallback": "off"})
    cfg.control_port, cfg.router_port = 1234, 5678
    argv = commands.router_command(Controller(cfg).config)
    assert argv[:3] == [sys.executable, "-m", "serving.router"]
    args = router_parser().parse_args(argv[3:])
    assert (args.port, args.discovery, args.control_url) == (5678, "local", "http://127.0.0.1:1234")
    assert (args.retries, args.fallback, args.store) == (0, False, "file:///s")


def test_warm_pool_covers_the_largest_zone_by_default(tmp_path):
    assert config(tmp_path).warm_pool_size == 3  # local-c: two actives and standby-0
    assert config(tmp_path, standby=0).warm_pool_size == 2
    assert config(tmp_path, standby=4).warm_pool_size == 4
    assert config(tmp_path, warm_pool=0).warm_pool_size == 0
    assert Controller(config(tmp_path, warm_pool=1)).replicas_view()["warm_pool"]["size"] == 1


@pytest.mark.parametrize(
    "kw", [{"warm_pool": -1}, {"replica_poll_interval": 0.0}, {"startup_nice": 20}]
)
def test_bad_tuning_is_refused(tmp_path, kw):
    with pytest.raises(ValueError, match="--"):
        config(tmp_path, **kw)


def test_replica_arguments_carry_cache_dir_and_poll_interval(tmp_path):
    plain = commands.replica_args(config(tmp_path), tmp_path, "local-a-0", "local-b", 9001)
    assert plain[plain.index("--cache-dir") + 1] == str(tmp_path / "cache" / "local-a-0")
    assert "--poll-interval" not in plain
    assert plain[plain.index("--zone") + 1] == "local-b"
    tuned = config(tmp_path, replica_cache_dir="/ro/cache", replica_poll_interval=0.5)
    args = commands.replica_args(tuned, tmp_path, "local-a-0", "local-a", 9001)
    assert args[args.index("--cache-dir") + 1] == "/ro/cache/local-a-0"
    assert args[args.index("--poll-interval") + 1] == "0.5"


def test_up_router_flags_reach_the_router_it_starts(tmp_path):
    """`up --router-*` options are the sensitivity matrix's weakenings: each must really
    change the router the controller starts."""
    from infra.local.__main__ import build_parser
    from infra.local.lifecycle import config_from_args

    flags = ["--router-probe-interval", "30", "--router-ejection", "off", "--router-retries", "0"]
    args = build_parser().parse_args(
        ["up", "--workdir", str(tmp_path), "--store", "file:///s", *flags]
    )
    cfg = config_from_args(args, tmp_path, "tok")
    cfg.control_port, cfg.router_port = 1234, 5678
    routed = router_parser().parse_args(commands.router_command(cfg)[3:])
    assert (routed.probe_interval, routed.ejection, routed.retries) == (30.0, False, 0)
    assert routed.expected_active == 3 * 2, "the zones' active replicas, live or not"
