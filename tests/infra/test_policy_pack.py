"""The policy pack wraps every invariant and reports its violations through pulumi-policy."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.policy.invariants import INVARIANTS
from tests.infra.harness import Resource

PACK = Path(__file__).resolve().parents[2] / "infra" / "policy" / "__main__.py"


def _policies():
    return runpy.run_path(str(PACK), run_name="policy_pack_under_test")["policies"]()


def test_pack_has_one_mandatory_policy_per_invariant() -> None:
    policies = _policies()
    assert [p.name for p in policies] == list(INVARIANTS)
    assert {str(p.enforcement_level) for p in policies} == {"EnforcementLevel.MANDATORY"}
    assert (PACK.parent / "PulumiPolicy.yaml").is_file()


def test_policy_reports_invariant_violations() -> None:
    (spread,) = [p for p in _policies() if p.name == "replicas-spread-over-zones"]
    reported: list[str] = []
    router = {"kind": "Deployment", "metadata": {"name": "recdrill-router"}}
    args = SimpleNamespace(resources=[Resource("kubernetes:apps/v1:Deployment", "d", router)])
    spread.validate(args, lambda message, urn: reported.append(message))
    assert reported == ["no active replica Deployment annotated with recdrill.io/zones"]


def test_values_unknown_at_preview_make_the_policy_not_applicable() -> None:
    """pulumi-policy raises UnknownValueError on an unknown prop; the pack lets it through
    (the engine then reports the policy as not applicable until ``pulumi up``)."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

    (irsa,) = [p for p in _policies() if p.name == "irsa-least-privilege"]
    account = {
        "kind": "ServiceAccount",
        "metadata": {
            "name": "recdrill-replica",
            "namespace": "recdrill",
            "annotations": {"eks.amazonaws.com/role-arn": UNKNOWN_STRING_VALUE},
        },
    }
    resources = [
        Resource("kubernetes:core/v1:ServiceAccount", "sa", unknown_checking_proxy(account))
    ]
    with pytest.raises(UnknownValueError):
        irsa.validate(SimpleNamespace(resources=resources), lambda message, urn: None)
