"""The model store against a local directory and a real moto S3 server over HTTP."""

from __future__ import annotations

import json
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from model.artifacts import read_artifacts
from model.store import (
    MANIFEST,
    AliasNotFound,
    CorruptManifest,
    ModelNotFound,
    ModelStore,
    StoreError,
    StoreUnreachable,
    VerificationError,
    VersionExists,
    VersionNotFound,
    open_store,
)
from tests.factories import fresh_store, moto_s3, publish_tiny_model, store_snapshot

MODEL = "recommender"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3("models") as endpoint:
        yield endpoint


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path) -> ModelStore:
    if request.param == "s3":
        request.getfixturevalue("s3_endpoint")
    return fresh_store(request.param, tmp_path)


def _overwrite(store: ModelStore, model: str, version: str, name: str, data: bytes) -> None:
    store.fs.pipe_file(f"{store.root}/{model}/versions/{version}/{name}", data)


def test_publish_records_checksums_and_verifies(store, tmp_path):
    manifest = publish_tiny_model(store, promote=False)
    assert store.list_versions(MODEL) == [manifest.version]
    assert set(manifest.files) == {
        "model.safetensors",
        "features.safetensors",
        "vocab.json",
        "holdout.json",
    }
    store.verify(MODEL, manifest.version)
    local = store.fetch(MODEL, manifest.version, tmp_path / "cache")
    for name, meta in manifest.files.items():
        assert (local / name).stat().st_size == meta["size"]
    art = read_artifacts(local, store.read_manifest(MODEL, manifest.version))
    assert art.build_model().config.n_items == len(art.items) + 1


def test_corrupted_weights_fail_verification_naming_the_file(store, tmp_path):
    version = publish_tiny_model(store).version
    raw = store.read_file(MODEL, version, "model.safetensors")
    _overwrite(store, MODEL, version, "model.safetensors", raw[:-8] + b"XXXXXXXX")
    with pytest.raises(VerificationError, match=r"model\.safetensors"):
        store.verify(MODEL, version)
    with pytest.raises(VerificationError, match=r"model\.safetensors"):
        store.fetch(MODEL, version, tmp_path / "cache")
    assert not (tmp_path / "cache" / MODEL / version).exists()


class _PublisherKilled(Exception):
    pass


class _DiesAfterFirstFile(dict):
    """The files of a publish whose process dies after uploading the first one."""

    def items(self):
        first = next(iter(dict.items(self)))
        yield first
        raise _PublisherKilled


def test_half_published_version_is_invisible(store):
    good = publish_tiny_model(store).version
    files = _DiesAfterFirstFile({"model.safetensors": b"weights", "vocab.json": b"{}"})
    with pytest.raises(_PublisherKilled):
        store.publish(MODEL, files, {"architecture": {}}, version="20991231T000000000000Z-dead00")
    assert store.fs.exists(f"{store.root}/{MODEL}/versions/20991231T000000000000Z-dead00")
    assert store.list_versions(MODEL) == [good]
    with pytest.raises(VersionNotFound):
        store.read_manifest(MODEL, "20991231T000000000000Z-dead00")
    with pytest.raises(VersionNotFound):
        store.promote(MODEL, "20991231T000000000000Z-dead00")
    assert store.resolve(MODEL, "stable") == good


def test_promote_then_rollback_restores_previous(store):
    first = publish_tiny_model(store, seed=1).version
    second = publish_tiny_model(store, seed=2).version
    assert store.resolve(MODEL, "stable") == second
    assert store.resolve(MODEL, "previous") == first
    body = store.rollback(MODEL)
    assert body["version"] == first
    assert body["rolled_back_from"] == second
    assert store.resolve(MODEL, "stable") == first


def test_rollback_with_from_version_is_idempotent(store):
    first = publish_tiny_model(store, seed=1).version
    second = publish_tiny_model(store, seed=2).version
    store.rollback(MODEL, from_version=second)
    before = store_snapshot(store)
    again = store.rollback(MODEL, from_version=second)
    assert again["version"] == first
    assert store_snapshot(store) == before


def test_versions_are_immutable_and_time_sorted(store):
    published = [publish_tiny_model(store, seed=s, promote=False).version for s in range(3)]
    assert store.list_versions(MODEL) == published == sorted(published)
    before = store_snapshot(store)
    with pytest.raises(VersionExists):
        store.publish(MODEL, {"vocab.json": b"{}"}, {}, version=published[0])
    assert store_snapshot(store) == before


def test_concurrent_publishers_do_not_corrupt_each_other(store):
    start = threading.Barrier(2)

    def publisher(seed: int) -> list[str]:
        own = ModelStore(store.url)  # each publisher has its own client, as two processes would
        start.wait()
        return [publish_tiny_model(own, seed=seed * 10 + i).version for i in range(3)]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(publisher, (1, 2)))
    versions = results[0] + results[1]
    assert sorted(store.list_versions(MODEL)) == sorted(versions)
    for version in versions:
        manifest = store.verify(MODEL, version)
        assert manifest.data["data_fingerprint"] in {f"tiny-{s}" for s in (10, 11, 12, 20, 21, 22)}
    stable = store.resolve(MODEL, "stable")
    assert stable in versions


def test_loading_never_unpickles(store, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bomb = pickle.dumps({"weight": Payload()})
    good = publish_tiny_model(store, promote=False)
    files = {name: store.read_file(MODEL, good.version, name) for name in good.files}
    files["model.safetensors"] = bomb
    extra = {k: v for k, v in good.data.items() if k not in ("version", "files", "model")}
    evil = store.publish(MODEL, files, extra)
    local = store.fetch(MODEL, evil.version, tmp_path / "cache")  # checksums match
    with pytest.raises(ValueError, match="cannot read model files"):
        read_artifacts(local, evil)
    assert not marker.exists()


def test_missing_alias_and_unknown_model_are_clear_errors(store):
    publish_tiny_model(store, promote=False)
    with pytest.raises(AliasNotFound, match="stable"):
        store.resolve(MODEL, "stable")
    with pytest.raises(AliasNotFound):
        store.rollback(MODEL)
    with pytest.raises(AliasNotFound, match="previous"):
        store.resolve(MODEL, "previous")
    for alias in ("stable", "previous"):
        with pytest.raises(ModelNotFound, match="nope"):
            store.resolve("nope", alias)


def test_corrupt_manifest_is_reported(store):
    version = publish_tiny_model(store).version
    _overwrite(store, MODEL, version, MANIFEST, b"{not json")
    with pytest.raises(CorruptManifest, match=MANIFEST):
        store.verify(MODEL, version)
    _overwrite(store, MODEL, version, MANIFEST, json.dumps({"model": MODEL}).encode())
    with pytest.raises(CorruptManifest, match="missing key"):
        store.read_manifest(MODEL, version)


def test_bad_names_are_refused_before_touching_the_store(store):
    with pytest.raises(StoreError, match="invalid model name"):
        store.list_versions("../etc")
    with pytest.raises(StoreError, match="invalid version name"):
        store.read_manifest(MODEL, "a/b")


def test_unreachable_store_urls(tmp_path, s3_endpoint):
    with pytest.raises(StoreUnreachable, match="no scheme"):
        open_store(str(tmp_path))
    with pytest.raises(StoreUnreachable):
        open_store("nope://bucket/x")
    with pytest.raises(StoreUnreachable, match="does not exist"):
        open_store("s3://no-such-bucket/x").check_reachable()
