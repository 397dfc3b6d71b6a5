"""CloudWatch alarms as a safeguard source, against moto's CloudWatch server over HTTP.

moto keeps alarms, their state and ``set_alarm_state`` (what CloudWatch itself does when
a canary fails twice); the safeguard reads them through the real boto3 client.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from experiments import cli
from experiments.controls import safeguard
from experiments.controls.cloudwatch import AlarmSource, AlarmSourceError, alarm_names
from experiments.render import render_one
from tests.experiments.fakes import json_server, write_deployment

REGION = "eu-west-1"
HEALTHY = {"items": ["i1"], "scores": [1.0], "model_version": "v1", "degraded": False}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def cloudwatch(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Two canary alarms shaped like infra/aws/canary.py's: zone a in ALARM, zone b OK."""
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    ).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("cloudwatch", region_name=REGION)
    for zone in ("a", "b"):
        client.put_metric_alarm(
            AlarmName=f"recdrill-prod-canary-eu-west-1{zone}-slo-abc123",
            Namespace="CloudWatchSynthetics",
            MetricName="SuccessPercent",
            Dimensions=[{"Name": "CanaryName", "Value": f"rd-prod-1{zone}"}],
            Statistic="Average",
            Period=60,
            EvaluationPeriods=2,
            Threshold=100,
            ComparisonOperator="LessThanThreshold",
        )
        client.set_alarm_state(
            AlarmName=f"recdrill-prod-canary-eu-west-1{zone}-slo-abc123",
            StateValue="ALARM" if zone == "a" else "OK",
            StateReason="canary SuccessPercent 40 < 100 for 2 periods" if zone == "a" else "ok",
        )
    return client


IN_ALARM = "recdrill-prod-canary-eu-west-1a-slo-abc123"
IN_OK = "recdrill-prod-canary-eu-west-1b-slo-abc123"


def _watcher(router_url: str, **alarms: Any) -> safeguard.Watcher:
    arguments = {"endpoint": router_url, "window_s": 0.2, "rate_rps": 10, "trip_windows": 2}
    watcher = safeguard.watcher_from({**arguments, **alarms})
    watcher.interrupt = lambda: None
    return watcher


def test_an_alarm_in_alarm_trips_with_its_name_and_reason(cloudwatch):
    with json_server(lambda *a: (200, HEALTHY)) as router:
        watcher = _watcher(router.url, cloudwatch_alarms=[IN_ALARM, IN_OK])
        assert [watcher.check_once(), watcher.check_once()] == [False, True]
    reason = watcher.record()["reason"]
    assert reason == f"cloudwatch alarm {IN_ALARM} in ALARM: canary SuccessPercent 40 < 100 " + (
        "for 2 periods"
    )
    assert watcher.record()["figures"]["cloudwatch_in_alarm"] == [
        {
            "name": IN_ALARM,
            "state": "ALARM",
            "reason": "canary SuccessPercent 40 < 100 for 2 periods",
        }
    ]


def test_an_alarm_in_ok_does_not_trip(cloudwatch):
    with json_server(lambda *a: (200, HEALTHY)) as router:
        watcher = _watcher(router.url, cloudwatch_alarms=IN_OK)
        assert [watcher.check_once(), watcher.check_once()] == [False, False]
    assert watcher.problems == [] and watcher.windows[-1]["breaches"] == []


def test_a_name_prefix_watches_every_alarm_under_it(cloudwatch):
    source = AlarmSource(prefix="recdrill-prod-canary-")
    assert sorted(a["name"] for a in source.states()) == [IN_ALARM, IN_OK]
    assert [a["name"] for a in source.in_alarm()] == [IN_ALARM]
    cloudwatch.set_alarm_state(AlarmName=IN_ALARM, StateValue="OK", StateReason="recovered")
    assert source.in_alarm() == []


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (AlarmSource(("recdrill-prod-canary-nope",)), "no alarm named recdrill-prod-canary-nope"),
        (AlarmSource(prefix="staging-"), "no alarm name starts with 'staging-'"),
    ],
)
def test_an_unknown_alarm_or_empty_prefix_is_a_clear_error(cloudwatch, source, words):
    with pytest.raises(AlarmSourceError, match=words) as raised:
        source.states()
    assert "\n" not in str(raised.value) and REGION in str(raised.value)


def test_no_region_is_a_clear_error(monkeypatch):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(AlarmSourceError, match="no AWS region"):
        AlarmSource(("a",)).states()


def test_alarm_names_come_as_a_list_or_comma_separated_text():
    assert alarm_names("a, b,a") == ("a", "b")
    assert alarm_names(["a"]) == ("a",) and alarm_names("") == ()
    with pytest.raises(AlarmSourceError, match="list of alarm names"):
        alarm_names(5)


def test_set_alarms_reach_the_control_and_an_unknown_one_stops_run_with_one_line(
    cloudwatch, tmp_path, capsys
):
    path = write_deployment(tmp_path)
    deployment = json.loads(path.read_text())
    plain = render_one("slow-replica", deployment, path, validate=False)
    assert safeguard.check_sources(plain) is None
    watched = render_one(
        "slow-replica", deployment, path, {"safeguard_cloudwatch_alarms": [IN_OK]}, validate=False
    )
    (control,) = watched["controls"]
    assert control["provider"]["arguments"]["cloudwatch_alarms"] == "${safeguard_cloudwatch_alarms}"
    assert safeguard.check_sources(watched) == f"CloudWatch alarm(s) {IN_OK}"
    argv = ["run", "--deployment", str(path), "--journals", str(tmp_path / "j")]
    code = cli.main([*argv, "slow-replica", "--set", "safeguard_cloudwatch_alarms=nope,also-nope"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: CloudWatch safeguard: no alarm named nope, also-nope in {REGION}\n"
    assert not (tmp_path / "j").exists()
    dry = [*argv, "--dry-run", "slow-replica", "--set", f"safeguard_cloudwatch_alarms={IN_OK}"]
    assert cli.main(dry) == 0
    assert (
        f"safeguard also stops on: CloudWatch alarm(s) {IN_OK} in ALARM" in capsys.readouterr().out
    )
