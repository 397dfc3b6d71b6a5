"""Store faults against real stores: a file:// directory and moto's S3 server over HTTP."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import safetensors.torch
from chaoslib.exceptions import ActivityFailed

from experiments import state
from experiments.faults import file_store, s3_store
from experiments.faults.corruption import corrupt_bytes, tensor_data_span
from experiments.rollback import rollback_state
from model.store import S3_ENDPOINT_ENV, ModelStore, VerificationError, open_store
from tests.factories import moto_s3, publish_tiny_model


def _config(tmp_path, url: str) -> dict:
    return {
        "model_store_url": url,
        "model_name": "recommender",
        "state_file": str(tmp_path / "state.json"),
    }


@pytest.fixture
def published(tmp_path):
    url = f"file://{tmp_path / 'store'}"
    store = open_store(url)
    manifest = publish_tiny_model(store)
    return _config(tmp_path, url), store, manifest.version


def test_store_outage_moves_the_store_away_and_restore_is_idempotent(tmp_path, published):
    config, _store, version = published
    url = config["model_store_url"]
    file_store.store_outage(configuration=config)
    with pytest.raises(Exception, match="store"):
        open_store(url).read_manifest("recommender", version)
    assert file_store.restore_store(configuration=config) == [str(tmp_path / "store")]
    assert file_store.restore_store(configuration=config) == []
    open_store(url).verify("recommender", version)


def test_store_outage_refuses_a_store_that_is_not_a_directory(tmp_path):
    with pytest.raises(ActivityFailed, match="does not exist"):
        file_store.store_outage(configuration=_config(tmp_path, f"file://{tmp_path / 'none'}"))
    with pytest.raises(ActivityFailed, match="not a file:// store"):
        file_store.store_outage(configuration=_config(tmp_path, "s3://bucket/x"))


@pytest.mark.parametrize("mode", ["silent", "garbage"])
def test_corrupt_model_breaks_the_checksum_and_restore_repairs_it(published, mode):
    config, store, version = published
    result = file_store.corrupt_model(mode=mode, configuration=config)
    assert result["version"] == version and result["mode"] == mode
    with pytest.raises(VerificationError, match=r"model\.safetensors"):
        store.verify("recommender", version)
    assert file_store.restore_model(configuration=config) == [result["path"]]
    store.verify("recommender", version)
    assert file_store.restore_model(configuration=config) == []


def test_silent_corruption_keeps_a_valid_safetensors_file_that_only_the_checksum_catches(published):
    config, store, version = published
    path = Path(file_store.corrupt_model(mode="silent", configuration=config)["path"])
    loaded = safetensors.torch.load_file(str(path))  # the format alone sees nothing wrong
    assert loaded
    good = Path(state.pending(config["state_file"])[0]["params"]["original"]).read_bytes()
    start, _end = tensor_data_span(good)
    bad = path.read_bytes()
    assert len(bad) == len(good) and bad[:start] == good[:start] and bad != good
    with pytest.raises(VerificationError, match="checksum mismatch"):
        store.verify("recommender", version)


def test_garbage_corruption_breaks_the_header_too():
    good = b'\x08\x00\x00\x00\x00\x00\x00\x00{"a": 1}' + bytes(range(64))
    assert tensor_data_span(good) == (16, 80)
    with pytest.raises(ActivityFailed, match="not a safetensors file"):
        tensor_data_span(corrupt_bytes(good, "garbage"))
    with pytest.raises(ActivityFailed, match="'wobbly'"):
        corrupt_bytes(good, "wobbly")


def test_rollback_cli_state_undoes_what_a_crashed_run_left(published):
    config, store, version = published
    state_file = config["state_file"]
    file_store.corrupt_model(configuration=config)
    file_store.store_outage(configuration=config)
    assert len(state.pending(state_file)) == 2
    reverted, failed = rollback_state(state_file)
    assert failed == [] and len(reverted) == 2
    store.verify("recommender", version)
    assert state.pending(state_file) == []
    assert rollback_state(state_file) == ([], [])


def test_rollback_reports_what_it_cannot_undo(tmp_path, published):
    config, _store, _version = published
    state_file = config["state_file"]
    file_store.store_outage(configuration=config)
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
        config = _config(tmp_path, url)
        result = s3_store.corrupt_model(configuration=config)
        assert result["good_version"] != result["bad_version"]
        with pytest.raises(VerificationError, match="checksum mismatch"):
            store.verify("recommender", version)
        restored = s3_store.restore_model(configuration=config)
        assert restored == [
            f"s3://models/recdrill/recommender/versions/{version}/model.safetensors"
        ]
        store.verify("recommender", version)
        assert s3_store.restore_model(configuration=config) == []


def test_s3_corruption_refused_without_bucket_versioning(tmp_path):
    with moto_s3(bucket="unversioned") as _endpoint:
        url, store = _versioned_s3_store(bucket="unversioned", versioning=False)
        version = publish_tiny_model(store).version
        with pytest.raises(ActivityFailed, match="no versioning"):
            s3_store.corrupt_model(configuration=_config(tmp_path, url))
        store.verify("recommender", version)


def test_state_file_rejects_garbage(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("[1, 2]")
    with pytest.raises(state.StateFileError, match="records"):
        state.pending(path)
