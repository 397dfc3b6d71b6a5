from __future__ import annotations

from pathlib import Path

import pytest

from serving.replica.settings import (
    TEST_DELAY_ENV,
    ReplicaSettings,
    build_parser,
    parse_settings,
)

REQUIRED = ["--store", "file:///s", "--model", "m", "--cache-dir", "/tmp/c"]


def test_the_shared_cli_contract_parses(monkeypatch):
    monkeypatch.setenv("RECDRILL_ADMIN_TOKEN", "tok")
    s = parse_settings(
        [*REQUIRED, "--alias", "canary", "--host", "127.0.0.1", "--port", "9001", "--zone", "z1",
         "--replica-id", "r9", "--poll-interval", "0.5", "--drain-grace", "3"]
    )  # fmt: skip
    assert (s.store, s.model, s.alias, s.port, s.zone, s.replica_id) == (
        "file:///s", "m", "canary", 9001, "z1", "r9"
    )  # fmt: skip
    assert (s.poll_interval_s, s.drain_grace_s, s.admin_token) == (0.5, 3.0, "tok")
    assert s.exclude_seen is True


def test_defaults_and_env_tuning(monkeypatch):
    monkeypatch.delenv("RECDRILL_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("RECDRILL_MAX_BATCH", "16")
    monkeypatch.setenv("RECDRILL_EXCLUDE_SEEN", "0")
    s = parse_settings([*REQUIRED, "--port", "9002"])
    assert (s.alias, s.admin_token, s.max_batch, s.exclude_seen) == ("stable", None, 16, False)
    assert s.replica_id.endswith("-9002")
    assert parse_settings([*REQUIRED, "--exclude-seen"]).exclude_seen is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "m", "--cache-dir", "/c"], "--store"),
        ([*REQUIRED, "--port", "http"], "expected int"),
        ([*REQUIRED, "--poll-interval", "0"], "must be >= 0.05"),
        ([*REQUIRED, "--max-batch", "0"], "must be >= 1"),
        ([*REQUIRED, "--max-in-flight", "0"], "must be >= 1"),
    ],
)
def test_bad_flags_exit_2_with_a_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        parse_settings(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_env_value_is_a_clean_cli_error(monkeypatch, capsys):
    monkeypatch.setenv("RECDRILL_MAX_BATCH", "lots")
    with pytest.raises(SystemExit):
        parse_settings(REQUIRED)
    assert "--max-batch" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["no-scheme/path", "nosuchproto://bucket/x"])
def test_a_malformed_store_url_exits_2_with_one_line(capsys, url):
    from serving.replica.server import main

    assert main(["--store", url, "--model", "m", "--cache-dir", "/tmp/c"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("serving.replica:") and "\n" not in err


def _clean_env(monkeypatch) -> None:
    for name in ("ADMIN_TOKEN", "MAX_BATCH", "MAX_WAIT_MS", "BATCH_CONCURRENCY",
                 "TORCH_THREADS", "EXCLUDE_SEEN", "DEVICE", "LOG_LEVEL", "SEARCH",
                 "MAX_QUEUE", "MAX_QUEUE_MS", "MAX_IN_FLIGHT"):  # fmt: skip
        monkeypatch.delenv(f"RECDRILL_{name}", raising=False)
    monkeypatch.delenv(TEST_DELAY_ENV, raising=False)


EVERY_FLAG_SET = ReplicaSettings(
    store="s3://b/p", model="m", cache_dir=Path("/var/cache/m"), alias="canary",
    host="0.0.0.0", port=9100, zone="$(RECDRILL_ZONE)", replica_id="$(POD_NAME)",
    poll_interval_s=0.5, drain_grace_s=15.0, max_batch=32, max_wait_s=0.004,
    batch_concurrency=2, torch_threads=3, exclude_seen=False, device="cpu", search="exact",
    max_queue=32, max_queue_s=0.125, max_in_flight=48, log_level="debug",
)  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [
        EVERY_FLAG_SET,
        ReplicaSettings(store="file:///s", model="m", cache_dir=Path("/c"), replica_id="r1"),
    ],
)
def test_argv_round_trips_through_the_parser(monkeypatch, settings):
    _clean_env(monkeypatch)
    argv = settings.argv()
    assert argv[:3] == ["python", "-m", "serving.replica"]
    assert parse_settings(argv[3:]) == settings


def test_argv_covers_every_flag_the_parser_knows():
    known = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option not in ("-h", "--help", "--exclude-seen")
    }
    assert {a for a in EVERY_FLAG_SET.argv() if a.startswith("--")} == known


def test_flags_at_their_defaults_are_left_to_the_environment(monkeypatch):
    _clean_env(monkeypatch)
    argv = ReplicaSettings(store="file:///s", model="m", cache_dir=Path("/c")).argv("/py")
    assert argv == ["/py", "-m", "serving.replica", *REQUIRED[:4], "--cache-dir", "/c"]
    monkeypatch.setenv("RECDRILL_MAX_BATCH", "16")
    assert parse_settings(argv[3:]).max_batch == 16


def test_the_in_flight_cap_defaults_to_what_the_batcher_holds(monkeypatch):
    _clean_env(monkeypatch)
    s = parse_settings([*REQUIRED, "--max-batch", "32", "--batch-concurrency", "2"])
    assert s.max_in_flight is None and s.in_flight_cap == 256 + 32 * 2
    assert parse_settings([*REQUIRED, "--max-in-flight", "5"]).in_flight_cap == 5
    monkeypatch.setenv("RECDRILL_MAX_IN_FLIGHT", "7")
    assert parse_settings(REQUIRED).in_flight_cap == 7
