"""Small factories shared by the test packages: a tiny published model, a moto S3 server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bench.fixtures import publish_artifacts_now, publish_tiny_model, tiny_artifacts
from model.store import S3_ENDPOINT_ENV, ModelStore

__all__ = [
    "fresh_store",
    "moto_s3",
    "publish_artifacts_now",
    "publish_tiny_model",
    "store_snapshot",
    "tiny_artifacts",
]


@contextmanager
def moto_s3(bucket: str = "models") -> Iterator[str]:
    """A real moto S3 server on loopback; yields the endpoint URL with the bucket created."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {
        k: os.environ.get(k)
        for k in (
            S3_ENDPOINT_ENV,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
        )
    }
    os.environ.update(
        {
            S3_ENDPOINT_ENV: endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def store_snapshot(store: ModelStore) -> dict[str, bytes]:
    """Every object under the store root with its bytes, to prove a command changed nothing."""
    store.fs.invalidate_cache()
    paths = store.fs.find(store.root) if store.fs.exists(store.root) else []
    return {path: store.fs.cat_file(path) for path in sorted(paths)}


def fresh_store(kind: str, tmp_path) -> ModelStore:
    """An empty store: a directory for ``file``, a unique prefix of bucket ``models`` for ``s3``.

    For ``s3`` a ``moto_s3("models")`` server must already be running.
    """
    if kind == "file":
        return ModelStore(f"file://{tmp_path}/store")
    return ModelStore(f"s3://models/{uuid.uuid4().hex}")
