"""Store faults against real stores: a file:// directory and moto's S3 server over HTTP."""

from __future__ import annotations

import boto3
import pytest
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.rollback import rollback_state
from experiments.store import actions
from model.store import S3_ENDPOINT_ENV, ModelStore, VerificationError, open_store
from tests.factories import moto_s3, publish_tiny_model


@pytest.fixture
def file_store(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    store = open_store(url)
    manifest = publish_tiny_model(store)
    return url, store, manifest.version


def test_store_outage_moves_the_store_away_and_restore_is_idempotent(tmp_path, file_store):
    url, _store, version = file_store
    state_file = str(tmp_path / "state.json")
    actions.store_outage(url, state_file)
    with pytest.raises(Exception, match="store"):
        open_store(url).read_manifest("recommender", version)
    assert actions.restore_store(state_file) == [str(tmp_path / "store")]
    assert actions.restore_store(state_file) == []
    open_store(url).verify("recommender", version)


def test_store_outage_refuses_a_store_that_is_not_a_directory(tmp_path):
    with pytest.raises(ActivityFailed, match="does not exist"):
        actions.store_outage(f"file://{tmp_path / 'none'}", str(tmp_path / "s.json"))
    with pytest.raises(ActivityFailed, match="not a file:// store"):
        actions.store_outage("s3://bucket/x", str(tmp_path / "s.json"))


def test_corrupt_model_breaks_the_checksum_and_restore_repairs_it(tmp_path, file_store):
    url, store, version = file_store
    state_file = str(tmp_path / "state.json")
    result = actions.corrupt_model(url, "recommender", state_file)
    assert result["version"] == version
    with pytest.raises(VerificationError, match=r"model\.safetensors"):
        store.verify("recommender", version)
    assert actions.restore_model(state_file) == [result["path"]]
    store.verify("recommender", version)
    assert actions.restore_model(state_file) == []


def test_rollback_cli_state_undoes_what_a_crashed_run_left(tmp_path, file_store):
    url, store, version = file_store
    state_file = tmp_path / "state.json"
    actions.corrupt_model(url, "recommender", str(state_file))
    actions.store_outage(url, str(state_file))
    assert len(state.pending(state_file)) == 2
    reverted, failed = rollback_state(state_file)
    assert failed == [] and len(reverted) == 2
    store.verify("recommender", version)
    assert state.pending(state_file) == []
    assert rollback_state(state_file) == ([], [])


def test_rollback_reports_what_it_cannot_undo(tmp_path, file_store):
    url, _store, _version = file_store
    state_file = tmp_path / "state.json"
    actions.store_outage(url, str(state_file))
    (tmp_path / "store").mkdir()  # something recreated the store meanwhile
    reverted, failed = rollback_state(state_file)
    assert reverted == [] and "exists again" in failed[0]
    assert len(state.pending(state_file)) == 1


def _versioned_s3_store(bucket: str = "models", versioning: bool = True) -> tuple[str, ModelStore]:
    import os

    s3 = boto3.client("s3", endpoint_url=os.environ[S3_ENDPOINT_ENV])
    if versioning:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    url = f"s3://{bucket}/recdrill"
    return url, open_store(url)


def test_s3_corruption_is_restored_from_the_previous_object_version(tmp_path):
    with moto_s3() as _endpoint:
        url, store = _versioned_s3_store()
        version = publish_tiny_model(store).version
        state_file = str(tmp_path / "state.json")
        result = actions.corrupt_model(url, "recommender", state_file)
        assert result["good_version"] != result["bad_version"]
        with pytest.raises(VerificationError, match="checksum mismatch"):
            store.verify("recommender", version)
        restored = actions.restore_model(state_file)
        assert restored == [
            f"s3://models/recdrill/recommender/versions/{version}/model.safetensors"
        ]
        store.verify("recommender", version)
        assert actions.restore_model(state_file) == []


def test_s3_corruption_refused_without_bucket_versioning(tmp_path):
    with moto_s3(bucket="unversioned") as _endpoint:
        url, store = _versioned_s3_store(bucket="unversioned", versioning=False)
        version = publish_tiny_model(store).version
        with pytest.raises(ActivityFailed, match="no versioning"):
            actions.corrupt_model(url, "recommender", str(tmp_path / "state.json"))
        store.verify("recommender", version)


def test_state_file_rejects_garbage(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("[1, 2]")
    with pytest.raises(state.StateFileError, match="records"):
        state.pending(path)
