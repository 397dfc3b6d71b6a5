"""experiments/faults/aws.py against moto's FIS server over HTTP.

moto keeps FIS's API and its experiment lifecycle (pending -> initiating -> running ->
completed, stopping -> stopped); it does not resolve targets or evaluate stop conditions.
"""

from __future__ import annotations

import inspect
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import VERBS, aws, local
from tests.experiments.test_fault_drivers import mismatches

REGION = "eu-west-1"
ZONES = ("eu-west-1a", "eu-west-1b")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One real moto server on loopback for the module (starting one takes a second)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def fis(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty moto FIS; the driver finds it through AWS_ENDPOINT_URL."""
    from moto.moto_api import state_manager

    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    ).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield boto3.client("fis", region_name=REGION)
    finally:
        state_manager.unset_transition("fis::experiment")


def _templates(fis: Any) -> dict[str, str]:
    """One zone-loss template per zone, shaped like infra/aws/fis.py's."""
    ids = {}
    for zone in ZONES:
        ids[zone] = fis.create_experiment_template(
            clientToken=f"template-{zone}",
            description=f"recdrill zone loss: power interruption of {zone}",
            roleArn="arn:aws:iam::123456789012:role/recdrill-fis",
            stopConditions=[
                {
                    "source": "aws:cloudwatch:alarm",
                    "value": f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:slo-{zone}",
                }
            ],
            targets={
                "zone-subnets": {
                    "resourceType": "aws:ec2:subnet",
                    "selectionMode": "ALL",
                    "resourceArns": [f"arn:aws:ec2:{REGION}:123456789012:subnet/subnet-{zone}"],
                }
            },
            actions={
                "cut-zone-subnets": {
                    "actionId": "aws:network:disrupt-connectivity",
                    "parameters": {"duration": "PT20M", "scope": "all"},
                    "targets": {"Subnets": "zone-subnets"},
                }
            },
        )["experimentTemplate"]["id"]
    return ids


@pytest.fixture
def configuration(fis: Any, tmp_path: Path) -> dict[str, Any]:
    return {
        "state_file": str(tmp_path / "state.json"),
        "fis_templates": _templates(fis),
        "aws_region": REGION,
        "fis_start_timeout_s": 5,
    }


def _statuses(fis: Any, template_id: str) -> list[str]:
    found = fis.list_experiments(experimentTemplateId=template_id)["experiments"]
    return [e["state"]["status"] for e in found]


def test_zone_down_runs_the_zones_template_and_zone_up_stops_it(
    fis: Any, configuration: dict[str, Any]
) -> None:
    template = configuration["fis_templates"]["eu-west-1b"]
    result = aws.zone_down("eu-west-1b", configuration)
    assert result["template"] == template
    # Listing does not move moto's lifecycle on (a get would: running -> completed).
    (experiment,) = fis.list_experiments(experimentTemplateId=template)["experiments"]
    assert experiment["id"] == result["experiment"]
    assert experiment["state"]["status"] == "running"
    assert experiment["tags"]["recdrill:zone"] == "eu-west-1b"
    # Only the lost zone's template ran; its start was recorded for the rollback.
    assert (
        fis.list_experiments(experimentTemplateId=configuration["fis_templates"]["eu-west-1a"])[
            "experiments"
        ]
        == []
    )
    (record,) = state.pending(configuration["state_file"], aws.ZONE_DOWN)
    assert record["params"]["template_id"] == template
    assert aws.zone_up("eu-west-1b", configuration) == [result["experiment"]]
    assert _statuses(fis, template) == ["stopped"]
    assert state.pending(configuration["state_file"], aws.ZONE_DOWN) == []
    assert aws.zone_up("eu-west-1b", configuration) == []  # idempotent


def test_rollback_after_a_crash_stops_only_the_drills_experiment(
    fis: Any, configuration: dict[str, Any]
) -> None:
    """The undo table finds the experiment by the recorded token, as after a crash."""
    template = configuration["fis_templates"]["eu-west-1a"]
    other = fis.start_experiment(clientToken="someone-else", experimentTemplateId=template)
    aws.zone_down("eu-west-1a", configuration)
    (record,) = state.pending(configuration["state_file"], aws.ZONE_DOWN)
    stopped = aws.UNDO[aws.ZONE_DOWN](**record["params"], secrets=None)
    assert len(stopped) == 1 and other["experiment"]["id"] not in stopped
    assert fis.get_experiment(id=stopped[0])["experiment"]["state"]["status"] == "stopped"


def test_an_experiment_that_never_runs_is_stopped_and_reported(
    fis: Any, configuration: dict[str, Any]
) -> None:
    from moto.moto_api import state_manager

    # Each step takes a second: still pending when the half-second start budget is spent.
    state_manager.set_transition("fis::experiment", {"progression": "time", "seconds": 1})
    configuration["fis_start_timeout_s"] = 0.5
    with pytest.raises(ActivityFailed, match=r"not running within 0 s \(still pending\)"):
        aws.zone_down("eu-west-1a", configuration)
    state_manager.unset_transition("fis::experiment")
    template = configuration["fis_templates"]["eu-west-1a"]
    assert _statuses(fis, template) == ["stopped"]


def test_a_zone_without_a_template_is_refused_before_anything_starts(
    configuration: dict[str, Any],
) -> None:
    with pytest.raises(ActivityFailed, match=r"no FIS zone-loss template for zone 'eu-west-1c'"):
        aws.zone_down("eu-west-1c", configuration)
    assert state.load(configuration["state_file"])["records"] == []


def test_a_template_fis_does_not_know_fails_clearly(configuration: dict[str, Any]) -> None:
    configuration["fis_templates"]["eu-west-1a"] = "EXT0000000000000"
    with pytest.raises(ActivityFailed, match=r"FIS start of template EXT0000000000000"):
        aws.zone_down("eu-west-1a", configuration)


def test_verbs_fis_cannot_do_fail_saying_so() -> None:
    for verb in ("kill_replicas", "store_outage", "wait_for_capacity", "corrupt_model"):
        function = getattr(aws, verb)
        required = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.default is inspect.Parameter.empty
        ]
        with pytest.raises(ActivityFailed, match=r"the aws driver cannot .*: FIS has no such"):
            function(*["x"] * len(required))


def test_an_experiment_fis_fails_at_start_reports_fis_reason(
    configuration: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto never fails an experiment; FIS does when a stop-condition alarm is already in
    ALARM. These are API answers of that shape, through botocore's Stubber."""
    from botocore.stub import ANY, Stubber

    client = boto3.client("fis", region_name=REGION)
    stubber = Stubber(client)
    template = configuration["fis_templates"]["eu-west-1a"]
    stubber.add_response(
        "start_experiment",
        {"experiment": {"id": "EXPfailed", "state": {"status": "initiating", "reason": ""}}},
        {"clientToken": ANY, "experimentTemplateId": template, "tags": ANY},
    )
    reason = "Stop condition alarm slo-eu-west-1a is in ALARM state"
    stubber.add_response(
        "get_experiment",
        {"experiment": {"id": "EXPfailed", "state": {"status": "failed", "reason": reason}}},
        {"id": "EXPfailed"},
    )
    monkeypatch.setattr(aws, "_fis", lambda region, secrets: client)
    with stubber, pytest.raises(ActivityFailed, match=f"failed before running: {reason}"):
        aws.zone_down("eu-west-1a", configuration)
    stubber.assert_no_pending_responses()


def test_the_aws_driver_has_every_verb_with_the_same_parameters() -> None:
    assert mismatches({"local": local, "aws": aws}) == []
    assert sorted(aws.__all__) == sorted(VERBS)
    assert all(inspect.getdoc(getattr(aws, verb)) for verb in VERBS)


def test_on_eks_zone_loss_starts_the_fis_power_interruption_and_rolls_it_back(
    cluster: Any, fis: Any, tmp_path: Path
) -> None:
    """With FIS templates in the deployment, the kubernetes driver's zone loss is real."""
    from experiments.deployment import configuration_for
    from experiments.faults import kubernetes as k8s
    from tests.experiments.fakes import deployment

    body = deployment("kubernetes", replicas_per_zone=1, zones=["eu-west-1a", "eu-west-1b"])
    body["fis_templates"] = {z: t for z, t in _templates(fis).items() if z in body["zones"]}
    config = {
        **configuration_for(body, tmp_path / "deployment.json"),
        "state_file": str(tmp_path / "state.json"),
        "aws_region": REGION,
        "fis_start_timeout_s": 5,
    }
    template = config["fis_templates"]["eu-west-1a"]
    result = k8s.zone_down("eu-west-1a", configuration=config)
    assert result["nodes"] == ["n-a1", "n-a2"]
    assert _statuses(fis, template) == ["running"]
    assert state.pending(config["state_file"], aws.ZONE_DOWN)
    restored = k8s.zone_up("eu-west-1a", configuration=config)
    assert {"n-a1", "n-a2"} <= set(restored)
    assert _statuses(fis, template) == ["stopped"]
    assert state.pending(config["state_file"]) == []
