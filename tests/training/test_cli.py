"""``python -m training``: the happy path, and bad input that must leave the store untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from model.store import MANIFEST, open_store
from tests.factories import fresh_store, moto_s3, publish_tiny_model, store_snapshot
from training.cli import main

MODEL = "recommender"


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_s3("models") as endpoint:
        yield endpoint


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "s3":
        request.getfixturevalue("s3_endpoint")
    return fresh_store(request.param, tmp_path)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _fails_cleanly(capsys, store, *argv: str, match: str) -> None:
    before = store_snapshot(store)
    code, _, err = _run(capsys, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert match in lines[0]
    assert "Traceback" not in err
    assert store_snapshot(store) == before


def test_train_publish_promote_and_if_no_stable(capsys, tmp_path):
    url = f"file://{tmp_path}/store"
    data = ["--data", "synthetic", "--interactions", "3000", "--items", "300", "--no-progress"]
    code, out, err = _run(capsys, "train", "--store", url, "--model", MODEL, "--epochs", "1", *data)
    assert code == 0, err
    version = out.strip()
    store = open_store(url)
    assert store.list_versions(MODEL) == [version]
    assert "recall@20" in err and "popularity" in err
    assert set(store.read_manifest(MODEL, version).data["metrics"]) == {"model", "popularity"}

    code, out, _ = _run(
        capsys, "promote", "--store", url, "--model", MODEL, "--version", version,
        "--force", "--reason", "first model",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["forced"] is True
    code, out, _ = _run(capsys, "versions", "--store", url, "--model", MODEL)
    assert code == 0 and out.startswith(version) and "stable" in out
    code, out, _ = _run(capsys, "verify", "--store", url, "--model", MODEL)
    assert code == 0 and "5 files verified" in out  # 4 artifacts + the index

    before = store_snapshot(store)
    code, out, _ = _run(capsys, "train", "--store", url, "--model", MODEL, "--if-no-stable", *data)
    assert code == 0 and out.strip() == version
    assert store_snapshot(store) == before


def test_wrong_store_urls(capsys, tmp_path, s3_endpoint):
    for url, match in (("nope://bucket/x", "nope"), ("s3://no-such-bucket/x", "no-such-bucket")):
        code, _, err = _run(capsys, "versions", "--store", url, "--model", MODEL)
        assert code == 1 and err.startswith("error: ") and match in err
    missing = f"file://{tmp_path}/missing"
    code, _, err = _run(capsys, "versions", "--store", missing, "--model", MODEL)
    assert code == 1 and "no published version" in err
    assert not (tmp_path / "missing").exists()
    code, _, err = _run(capsys, "train", "--store", "s3://no-such-bucket/x", "--model", MODEL)
    assert code == 1 and "does not exist" in err


def test_missing_alias(capsys, store):
    version = publish_tiny_model(store, promote=False).version
    for argv in (("verify",), ("rollback",), ("evaluate",)):
        _fails_cleanly(
            capsys, store, *argv, "--store", store.url, "--model", MODEL, match="'stable'"
        )
    store.promote(MODEL, version)
    _fails_cleanly(
        capsys, store, "rollback", "--store", store.url, "--model", MODEL, match="no previous"
    )


def test_corrupt_manifest(capsys, store):
    version = publish_tiny_model(store).version
    store.fs.pipe_file(f"{store.root}/{MODEL}/versions/{version}/{MANIFEST}", b"{oops")
    for argv in (
        ("verify", "--version", version),
        ("promote", "--version", version),
        ("versions",),
    ):
        _fails_cleanly(
            capsys, store, *argv, "--store", store.url, "--model", MODEL, match="not valid JSON"
        )


def test_unknown_model(capsys, store):
    publish_tiny_model(store)
    for argv in (("versions",), ("rollback",), ("promote", "--version", "20990101T0Z-x")):
        _fails_cleanly(capsys, store, *argv, "--store", store.url, "--model", "nope", match="nope")
    _fails_cleanly(
        capsys, store, "versions", "--store", store.url, "--model", "../x", match="invalid model"
    )


@pytest.mark.integration
def test_real_process_exit_code_and_one_line_error(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [sys.executable, "-m", "training", "rollback", "--store", "nope://x", "--model", MODEL],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.integration
@pytest.mark.parametrize("entry", [("training",), ("recdrill",)])
def test_train_on_a_missing_data_file_says_it_does_not_exist(tmp_path, entry):
    missing = tmp_path / "no" / "such.csv"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    argv = ["train", "--store", f"file://{tmp_path}/store", "--model", MODEL, "--data"]
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", *entry, *argv, str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    took = time.monotonic() - started
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"error: {missing}: no such file"], proc.stderr
    assert "unknown layout" not in proc.stderr
    assert took < 10, f"took {took:.1f} s"
