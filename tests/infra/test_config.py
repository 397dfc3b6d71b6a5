"""The environment spec: stack files parse, and bad config is refused naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError, EnvSpec, defaults, spec_from_dict
from infra.config import _coerce as coerce
from tests.infra.harness import stack_config

ROOT = Path(__file__).resolve().parents[2]


def _raw(stack: str) -> dict[str, Any]:
    raw = {
        k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("recdrill:")
    }
    region = stack_config(stack).get("aws:region")
    return {**raw, "region": region} if region else raw


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-dr", "kube"])
def test_every_stack_file_builds_a_spec(stack: str) -> None:
    spec = spec_from_dict(_raw(stack))
    assert spec.environment == stack
    assert spec.target == ("kube" if stack == "kube" else "eks")


def test_project_file_declares_exactly_the_spec_keys_with_its_defaults() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["main"] == "infra/"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    declared = project["config"]
    spec_defaults = defaults()
    assert set(declared) == (set(spec_defaults) - {"region"}) | {"environment", "target", "zones"}
    kinds = {"int": "integer", "bool": "boolean", "tuple[str, ...]": "array"}
    for key, entry in declared.items():
        assert entry["description"], key
        # Floats travel as strings: project config has no number type.
        assert entry["type"] == kinds.get(EnvSpec.__dataclass_fields__[key].type, "string"), key
        if key in spec_defaults:
            # As the CLI hands it over: a string, "" meaning unset.
            assert coerce(key, str(entry["default"])) == spec_defaults[key], key


BAD = [
    ({"colour": "blue"}, "colour", "unknown key"),
    ({"zones": ["eu-west-1a", "eu-west-1b"]}, "zones", "prod needs at least 3 zones"),
    ({"standby_replicas": 0}, "standby_replicas", "warm standby"),
    ({"gpus_per_replica": 2}, "gpus_per_replica", "do not fit a g5.2xlarge node with 1 GPUs"),
    ({"gpu_nodes_max": 2}, "gpu_nodes_max", "below gpu_nodes_min = 4"),
    ({"gpu_nodes_desired": 9}, "gpu_nodes_desired", "outside"),
    ({"peak_replicas": 17, "max_replicas": 18}, "peak_replicas", "do not fit the max nodes"),
    ({"gpu_instance_type": "t3.large"}, "gpu_instance_type", "not a known GPU instance"),
    ({"nat_per_zone": False}, "nat_per_zone", "zone single point of failure"),
    ({"kubernetes_version": "1.33"}, "kubernetes_version", "no pinned add-on versions"),
    ({"eks_support_type": "FOREVER"}, "eks_support_type", "STANDARD, EXTENDED"),
    ({"api_public_cidrs": ["0.0.0.0/0"]}, "api_public_cidrs", "whole internet"),
    ({"api_public_cidrs": ["office"]}, "api_public_cidrs", "not a CIDR"),
    ({"break_glass_role_arn": ""}, "break_glass_role_arn", "is required on eks"),
    ({"router_replicas": 1}, "router_replicas", "never takes the only router"),
    ({"dr_replication": False}, "dr_replication", "replicates the model bucket"),
    ({"dr_region": "eu-west-1"}, "dr_region", "must differ"),
    ({"replicas_per_zone": "two"}, "replicas_per_zone", "expected an integer"),
    ({"slo_availability": "1.5"}, "slo_availability", "within [0, 1]"),
    ({"monitoring": False}, "monitoring", "always deploy their alert rules"),
    ({"monitoring_release": "prom"}, "monitoring_release", "for target kube only"),
    ({"monitoring_namespace": "obs"}, "monitoring_namespace", "for target kube only"),
    ({"model_bucket": "b" * 57}, "model_bucket", "its -canary bucket: 63"),
    ({"drill_windows": ["weekdays 2am-5am"]}, "drill_windows", "'weekdays 2am-5am'"),
    ({"drill_windows": ["mon-fri 02:00"]}, "drill_windows", "is not 'DAYS HH:MM-HH:MM TZ'"),
    ({"drill_windows": ["mon-fri 02:00-05:00 Mars/Olympus"]}, "drill_windows", "timezone"),
    ({"drill_windows": ["mon-fri 02:00-25:00 UTC"]}, "drill_windows", "24-hour HH:MM"),
    ({"drill_windows": []}, "drill_windows", "production needs at least one window"),
    ({"environment_kind": "staging"}, "environment_kind", "prod must be 'production'"),
    ({"environment_kind": "prod"}, "environment_kind", "must be one of production"),
    ({"traffic_ceiling_rps": ""}, "traffic_ceiling_rps", "production needs a ceiling"),
    ({"traffic_ceiling_rps": "-5"}, "traffic_ceiling_rps", "positive number"),
    ({"traffic_ceiling_rps": "lots"}, "traffic_ceiling_rps", "expected a number"),
]


@pytest.mark.parametrize(("change", "key", "message"), BAD)
def test_bad_prod_config_names_the_key(change: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        spec_from_dict({**_raw("prod"), **change})
    assert caught.value.key == key
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"config recdrill:{key}:")


def test_kube_refuses_aws_only_keys_and_needs_a_store_url() -> None:
    with pytest.raises(ConfigError, match="model_bucket"):
        spec_from_dict({**_raw("kube"), "model_bucket": "x"})
    raw = _raw("kube")
    del raw["model_store_url"]
    with pytest.raises(ConfigError, match="model_store_url: is required"):
        spec_from_dict(raw)


def test_pulumi_string_values_are_coerced() -> None:
    spec = spec_from_dict(
        {
            **_raw("dev"),
            "zones": '["eu-west-1a", "eu-west-1b"]',
            "nat_per_zone": "true",
            "api_public_cidrs": '["198.51.100.0/24"]',
            "gpu_nodes_max": "3",
            "slo_p99_ms": "250",
            "drill_windows": '["daily 22:00-04:00 UTC"]',
            "traffic_ceiling_rps": "50",
        }
    )
    assert [w.describe() for w in spec.windows] == ["daily 22:00-04:00 UTC"]
    assert spec.traffic_ceiling_rps == 50.0
    assert spec.zones == ("eu-west-1a", "eu-west-1b")
    assert spec.api_public_cidrs == ("198.51.100.0/24",)
    assert spec.gpu_nodes_max == 3 and spec.slo_p99_ms == 250.0 and spec.nat_per_zone is True


def test_eks_environment_names_must_fit_the_canary_names() -> None:
    assert spec_from_dict({**_raw("staging"), "environment": "e" * 15}).environment == "e" * 15
    with pytest.raises(ConfigError, match="environment: too long for the canary names"):
        spec_from_dict({**_raw("staging"), "environment": "e" * 16})
    # A region pair's stacks also run rd-<environment>-ready (the steering canary).
    with pytest.raises(ConfigError, match="too long for the readiness canary name"):
        spec_from_dict({**_raw("prod-dr"), "environment": "e" * 13})


DR_BAD = [
    ({"primary_region": "eu-central-1"}, "primary_region", "must differ from the primary"),
    ({"primary_stack": None}, "primary_stack", "is required for a region_role dr stack"),
    ({"steering_record": None}, "steering_record", "is required for a region_role dr stack"),
    ({"dr_replication": True}, "dr_replication", "replication is configured in the primary"),
    ({"region_role": "standby"}, "region_role", "must be one of primary, dr"),
]


@pytest.mark.parametrize(("change", "key", "message"), DR_BAD)
def test_bad_dr_region_config_names_the_key(change: dict[str, Any], key: str, message: str) -> None:
    raw = {k: v for k, v in {**_raw("prod-dr"), **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=message) as caught:
        spec_from_dict(raw)
    assert caught.value.key == key


def test_a_primary_refuses_the_dr_only_keys() -> None:
    with pytest.raises(ConfigError, match="is for a region_role dr stack only") as caught:
        spec_from_dict({**_raw("prod"), "steering_record": "recommend.shop.internal"})
    assert caught.value.key == "steering_record"
