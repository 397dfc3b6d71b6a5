from __future__ import annotations

import pytest

from serving.replica.settings import parse_settings

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
