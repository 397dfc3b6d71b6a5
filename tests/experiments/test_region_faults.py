"""The region verbs: the local driver needs a two-region deployment and records before it
acts; the store drivers refuse, saying why. (The real region loss runs in
tests/infra/local/test_regions.py through the same ``infra.local region-down``; the
cluster drivers' steering drill is in test_kubernetes_region_faults.py.)"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import DRIVERS
from experiments.faults.local_regions import REGION_DOWN, region_down, region_up
from experiments.rollback import REVERTERS
from tests.experiments.fakes import write_deployment


def config(tmp_path, **overrides) -> dict:
    path = write_deployment(tmp_path, "local", **overrides)
    return {"deployment_file": str(path), "state_file": str(tmp_path / "state.json")}


@pytest.mark.parametrize("verb", [region_down, region_up])
def test_a_single_region_deployment_is_refused_and_nothing_recorded(tmp_path, verb):
    configuration = config(tmp_path)
    with pytest.raises(ActivityFailed, match="--regions 2"):
        verb("primary", configuration=configuration, secrets=None)
    assert state.pending(configuration["state_file"], REGION_DOWN) == []


def test_an_unknown_region_role_is_refused(tmp_path):
    with pytest.raises(ActivityFailed, match="'moon'"):
        region_down("moon", configuration=config(tmp_path), secrets=None)


def test_a_failed_region_down_is_recorded_first_so_rollback_can_finish_it(tmp_path):
    configuration = config(tmp_path)
    path = Path(configuration["deployment_file"])
    deployment = json.loads(path.read_text())
    region = {"endpoint": deployment["endpoint"], "zones": ["local-a"], "control_url": None}
    deployment["regions"] = [
        {**region, "name": "p", "role": "primary", "store_url": "file:///p"},
        {**region, "name": "d", "role": "dr", "store_url": "file:///d"},
    ]
    deployment["workdir"] = str(tmp_path / "nowhere")  # no environment there: the CLI fails
    path.write_text(json.dumps(deployment))
    with pytest.raises(ActivityFailed, match="region-down --role primary failed"):
        region_down("primary", configuration=configuration, secrets=None)
    [entry] = state.pending(configuration["state_file"], REGION_DOWN)
    assert entry["params"] == {"workdir": str(tmp_path / "nowhere"), "role": "primary"}


def test_a_broken_deployment_file_is_an_activity_failure(tmp_path):
    configuration = config(tmp_path)
    Path(configuration["deployment_file"]).write_text("{")
    with pytest.raises(ActivityFailed, match="deployment"):
        region_down("primary", configuration=configuration, secrets=None)


@pytest.mark.parametrize("driver", ["file", "s3"])
@pytest.mark.parametrize("verb", ["region_down", "region_up"])
def test_the_store_drivers_refuse_naming_why(driver, verb):
    module = importlib.import_module(DRIVERS[driver])
    with pytest.raises(ActivityFailed, match="region"):
        getattr(module, verb)("primary", configuration={}, secrets=None)


def test_the_rollback_knows_how_to_bring_a_region_back():
    assert REVERTERS[REGION_DOWN].__name__ == "undo_region_down"
