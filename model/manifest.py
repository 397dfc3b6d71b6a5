"""The model-version format: manifests, checksums and the errors every store operation raises.

A version is a directory of files plus ``manifest.json``, which records every file's sha256
and size; nothing is loaded before those match. Owned by neither training nor serving.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20


class StoreError(Exception):
    """Base class: every store failure has a message that names what was wrong."""


class StoreUnreachable(StoreError):
    """The store URL cannot be opened or read (bad protocol, missing bucket, outage)."""


class ModelNotFound(StoreError):
    """No complete version of the model exists in the store."""


class VersionNotFound(StoreError):
    """The version has no manifest, so it does not exist (or is incomplete)."""


class AliasNotFound(StoreError):
    """The alias object does not exist."""


class CorruptManifest(StoreError):
    """manifest.json or an alias object is not valid JSON of the expected shape."""


class VerificationError(StoreError):
    """A file is missing or its sha256/size disagrees with the manifest."""


class VersionExists(StoreError):
    """A version id was reused: versions are immutable."""


def new_version_id(now: dt.datetime | None = None) -> str:
    """A version id that sorts by creation time and cannot collide between publishers."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha256_file(path: str | Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_name(kind: str, value: str) -> str:
    """Model, version and alias names become path parts, so they are restricted."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise StoreError(f"invalid {kind} name {value!r}: use letters, digits, '.', '_' or '-'")
    return value


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest of one complete version."""

    data: Mapping[str, Any]

    @property
    def version(self) -> str:
        return str(self.data["version"])

    @property
    def files(self) -> Mapping[str, Mapping[str, Any]]:
        return self.data["files"]

    @property
    def popular_items(self) -> list[str]:
        return list(self.data.get("popular_items", []))

    @classmethod
    def parse(cls, raw: bytes | str, where: str) -> Manifest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptManifest(f"{where}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise CorruptManifest(f"{where}: expected a JSON object")
        for key in ("model", "version", "created", "files"):
            if key not in data:
                raise CorruptManifest(f"{where}: missing key {key!r}")
        files = data["files"]
        if not isinstance(files, dict) or not files:
            raise CorruptManifest(f"{where}: 'files' must be a non-empty object")
        for name, meta in files.items():
            if (
                not isinstance(meta, dict)
                or not isinstance(meta.get("sha256"), str)
                or not isinstance(meta.get("size"), int)
                or "/" in name
                or name in ("", ".", "..", MANIFEST)
            ):
                raise CorruptManifest(f"{where}: bad entry for file {name!r}")
        return cls(data)


def verify_dir(directory: str | Path, manifest: Manifest | None = None) -> Manifest:
    """Verify a local copy of a version (a cache entry) against its manifest."""
    directory = Path(directory)
    if manifest is None:
        path = directory / MANIFEST
        if not path.is_file():
            raise VersionNotFound(f"{directory}: no {MANIFEST}")
        manifest = Manifest.parse(path.read_bytes(), str(path))
    for name, meta in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise VerificationError(f"{path}: file {name!r} is missing")
        digest, size = sha256_file(path)
        if size != meta["size"] or digest != meta["sha256"]:
            raise VerificationError(
                f"{path}: checksum mismatch for file {name!r} "
                f"(expected sha256 {meta['sha256'][:12]}… size {meta['size']}, "
                f"got {digest[:12]}… size {size})"
            )
    return manifest
