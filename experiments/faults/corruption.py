"""How a model file is corrupted: which bytes change, and which version is hit.

``garbage`` inverts every byte, so the safetensors header breaks too and the format
itself refuses the file. ``silent`` flips bytes inside the tensor data only and keeps
the header valid: the file still parses, and only the manifest's sha256 can tell.
Both keep the size, so a size check never catches them.
"""

from __future__ import annotations

import json
import struct

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration

from experiments.faults.common import setting
from model.store import ModelStore, StoreError, open_store

MODES = ("silent", "garbage")
_INVERT = bytes(b ^ 0xFF for b in range(256))
_SPAN = 64


def corrupt_bytes(data: bytes, mode: str) -> bytes:
    """Same length, different bytes, as ``mode`` says."""
    if mode == "garbage":
        return data.translate(_INVERT) if data else b"\x00"
    if mode == "silent":
        start, end = tensor_data_span(data)
        middle = (start + end) // 2
        cut = min(_SPAN, end - middle)
        flipped = data[middle : middle + cut].translate(_INVERT)
        return data[:middle] + flipped + data[middle + cut :]
    raise ActivityFailed(f"corruption mode {mode!r} is not one of {', '.join(MODES)}")


def tensor_data_span(data: bytes) -> tuple[int, int]:
    """Where a safetensors file's tensor bytes start and end (after the JSON header)."""
    if len(data) < 8:
        raise ActivityFailed("not a safetensors file (shorter than its header length)")
    (header_len,) = struct.unpack("<Q", data[:8])
    start = 8 + header_len
    try:
        json.loads(data[8:start])
    except ValueError as exc:
        raise ActivityFailed(f"not a safetensors file (header: {exc})") from exc
    if start >= len(data):
        raise ActivityFailed("safetensors file holds no tensor bytes to corrupt silently")
    return start, len(data)


def target(
    configuration: Configuration, version: str, file: str
) -> tuple[str, ModelStore, str, str]:
    """(store URL, store, model, resolved version) of the file to corrupt; checks it exists."""
    url = str(setting(configuration, "model_store_url"))
    model = str(setting(configuration, "model_name", "recommender"))
    try:
        store = open_store(url)
        resolved = store.resolve(model, version) if version in ("stable", "previous") else version
        store.read_manifest(model, resolved).files[file]
    except (StoreError, KeyError) as exc:
        raise ActivityFailed(f"cannot corrupt {model} {version}/{file}: {exc}") from exc
    return url, store, model, resolved
