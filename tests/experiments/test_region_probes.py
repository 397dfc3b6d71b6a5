"""The DR probes over real file stores: a served version must be whole in the DR store,
and the RPO counts what the DR store lacks of the primary's versions."""

from __future__ import annotations

import shutil
import time

import pytest
from chaoslib.exceptions import ActivityFailed

from experiments.probes.regions import dr_replicas_answered, replication_rpo, whole_or_fail
from model.store import open_store
from tests.factories import publish_tiny_model

MODEL = "recommender"


@pytest.fixture
def stores(tmp_path):
    primary, dr = open_store(f"file://{tmp_path / 'p'}"), open_store(f"file://{tmp_path / 'd'}")
    return tmp_path, primary, dr


def copy_version(tmp_path, version: str) -> None:
    """Replicate one version whole, as the replicator eventually does."""
    src = tmp_path / "p" / MODEL / "versions" / version
    shutil.copytree(src, tmp_path / "d" / MODEL / "versions" / version)


def test_a_served_version_missing_a_file_in_the_dr_store_fails_naming_the_replica(stores):
    tmp_path, primary, dr = stores
    version = publish_tiny_model(primary, MODEL, seed=1).version
    copy_version(tmp_path, version)
    assert whole_or_fail(dr, MODEL, {"dr-a-0": version, "dr-b-0": None}) == [version]
    vdir = tmp_path / "d" / MODEL / "versions" / version
    victim = next(p for p in vdir.iterdir() if p.name != "manifest.json")
    victim.unlink()  # the manifest arrived before this file: a half-replicated version
    with pytest.raises(ActivityFailed, match=rf"dr-a-0 serve {MODEL} {version}.*missing"):
        whole_or_fail(dr, MODEL, {"dr-a-0": version})


def test_a_truncated_file_is_not_whole_either(stores):
    tmp_path, primary, dr = stores
    version = publish_tiny_model(primary, MODEL, seed=2).version
    copy_version(tmp_path, version)
    vdir = tmp_path / "d" / MODEL / "versions" / version
    victim = next(p for p in vdir.iterdir() if p.name != "manifest.json")
    victim.write_bytes(victim.read_bytes()[:-1])
    with pytest.raises(ActivityFailed, match="checksum mismatch"):
        whole_or_fail(dr, MODEL, {"dr-a-0": version})


def test_the_rpo_counts_the_primarys_versions_the_dr_store_lacks_whole(stores):
    tmp_path, primary, dr = stores
    first = publish_tiny_model(primary, MODEL, seed=1).version
    copy_version(tmp_path, first)
    config = {"model_name": MODEL, "model_store_url": primary.url, "dr_store_url": dr.url}
    assert replication_rpo(config)["rpo_versions"] == 0
    time.sleep(0.01)
    second = publish_tiny_model(primary, MODEL, seed=2).version
    rpo = replication_rpo(config)
    assert (rpo["rpo_versions"], rpo["missing"], rpo["dr_newest_whole"]) == (1, [second], first)
    assert rpo["rpo_s"] >= 0 and rpo["primary_stable"] == second


def test_the_tolerance_needs_a_dr_replica_naming_a_version():
    assert dr_replicas_answered({"served": {"dr-a-0": "v1"}})
    assert not dr_replicas_answered({"served": {"dr-a-0": None}})
    assert not dr_replicas_answered(None)
