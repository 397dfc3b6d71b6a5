"""Regions in the deployment description: one primary, a DR region on its own store."""

from __future__ import annotations

import json

import pytest

from contracts.deployment import Deployment, DeploymentError
from tests.contracts.test_deployment import kubernetes_description


def region(name: str, role: str, store: str, **extra) -> dict:
    return {
        "name": name,
        "role": role,
        "endpoint": f"http://{name}.router:80",
        "zones": [f"{name}a", f"{name}b"],
        "store_url": store,
        **extra,
    }


def with_regions(*regions: dict) -> dict:
    body = kubernetes_description().to_json()
    body["regions"] = list(regions)
    return body


def test_two_regions_round_trip_and_name_their_roles():
    body = with_regions(
        region("us-east-1", "primary", "s3://models"),
        region("us-west-2", "dr", "s3://models-dr", replication_window_s=900),
    )
    d = Deployment.from_json(json.loads(json.dumps(body)))
    assert d.region("primary").name == "us-east-1"
    assert d.region("dr").store_url == "s3://models-dr"
    assert Deployment.from_json(d.to_json()) == d
    assert d.to_json()["regions"][0]["replication_window_s"] == 900.0, "S3 RTC's window"
    assert kubernetes_description().region("dr") is None


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        ([region("a", "primary", "s3://x")], "at least one dr region"),
        ([region("a", "dr", "s3://x"), region("b", "dr", "s3://y")], "exactly one primary"),
        ([region("a", "primary", "s3://x"), region("b", "dr", "s3://x")], "its own store"),
        ([region("a", "primary", "s3://x"), region("a", "dr", "s3://y")], "names repeat"),
        ([region("a", "primary", "s3://x"), region("b", "backup", "s3://y")], "role"),
        ([region("a", "primary", "s3://x", endpoint="ftp://x")], "endpoint"),
        ([region("a", "primary", "s3://x", zones=[])], "zones"),
        ([region("a", "primary", "s3://x", replication_window_s=0)], "replication_window_s"),
        ([{"name": "a"}], "missing 'role'"),
        ("us-east-1", "must be a list"),
    ],
)
def test_bad_regions_are_refused_naming_the_problem(regions, message):
    body = kubernetes_description().to_json()
    body["regions"] = regions
    with pytest.raises(DeploymentError, match="regions") as err:
        Deployment.from_json(body)
    assert message in str(err.value)
