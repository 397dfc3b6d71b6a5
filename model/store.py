"""The versioned model store (DESIGN.md contract 1), over fsspec.

Layout under one URL (``file:///…`` locally, ``s3://bucket/prefix`` in the cloud)::

    <store>/<model>/versions/<version>/manifest.json   written last; no manifest = incomplete
    <store>/<model>/versions/<version>/<files>
    <store>/<model>/aliases/<alias>.json               {"version", "previous", "updated", …}

Versions are immutable: publishing writes every data file first and the manifest
last, and refuses to touch a version that already has one. Loading never
unpickles: verification is sha256 + size of every file the manifest names.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from model.manifest import (
    MANIFEST,
    NAME_PATTERN,
    AliasNotFound,
    CorruptManifest,
    Manifest,
    ModelNotFound,
    StoreError,
    StoreUnreachable,
    VerificationError,
    VersionExists,
    VersionNotFound,
    check_name,
    new_version_id,
    sha256_file,
    utcnow,
    verify_dir,
)

STABLE = "stable"
PREVIOUS = "previous"
S3_ENDPOINT_ENV = "RECDRILL_S3_ENDPOINT_URL"

__all__ = [
    "MANIFEST",
    "PREVIOUS",
    "S3_ENDPOINT_ENV",
    "STABLE",
    "AliasNotFound",
    "CorruptManifest",
    "Manifest",
    "ModelNotFound",
    "ModelStore",
    "StoreError",
    "StoreUnreachable",
    "VerificationError",
    "VersionExists",
    "VersionNotFound",
    "check_name",
    "new_version_id",
    "open_store",
    "sha256_file",
    "storage_options_for",
    "utcnow",
    "verify_dir",
]


def storage_options_for(url: str) -> dict[str, Any]:
    """Options for fsspec; an S3-compatible endpoint (moto, MinIO) comes from the environment."""
    if url.startswith("s3://"):
        opts: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True}
        endpoint = os.environ.get(S3_ENDPOINT_ENV) or os.environ.get("AWS_ENDPOINT_URL_S3")
        if endpoint:
            opts["client_kwargs"] = {"endpoint_url": endpoint}
        return opts
    return {}


@dataclass
class ModelStore:
    """One model store URL. Every method raises a StoreError subclass on failure."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "://" not in self.url:
            raise StoreUnreachable(
                f"store URL {self.url!r} has no scheme: use file:///path or s3://bucket/prefix"
            )
        options = {**storage_options_for(self.url), **self.storage_options}
        try:
            self.fs, self.root = url_to_fs(self.url, **options)
        except (ValueError, ImportError) as exc:
            raise StoreUnreachable(f"cannot open store {self.url!r}: {exc}") from exc
        self.root = self.root.rstrip("/")
        self._local = "file" in _protocols(self.fs)

    # paths -----------------------------------------------------------------------------
    def _model_dir(self, model: str) -> str:
        return f"{self.root}/{check_name('model', model)}"

    def _version_dir(self, model: str, version: str) -> str:
        return f"{self._model_dir(model)}/versions/{check_name('version', version)}"

    def _alias_path(self, model: str, alias: str) -> str:
        return f"{self._model_dir(model)}/aliases/{check_name('alias', alias)}.json"

    def version_url(self, model: str, version: str) -> str:
        return f"{self.url.rstrip('/')}/{model}/versions/{version}"

    # low-level I/O -----------------------------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FileNotFoundError:
            raise
        except StoreError:
            raise
        except (OSError, ValueError) as exc:
            raise StoreUnreachable(f"store {self.url}: {what} failed: {exc}") from exc
        except Exception as exc:  # botocore/aiohttp errors have no common base class
            raise StoreUnreachable(
                f"store {self.url}: {what} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _read(self, path: str) -> bytes:
        return self._call(f"read {path}", self.fs.cat_file, path)

    def _write(self, path: str, data: bytes) -> None:
        """Write one object; locally via rename so a reader never sees half a file."""
        if self._local:
            parent = os.path.dirname(path)
            os.makedirs(parent, exist_ok=True)
            tmp = f"{path}.tmp-{secrets.token_hex(4)}"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        else:
            self._call(f"write {path}", self.fs.pipe_file, path, data)

    def _put_file(self, src: Path, path: str) -> None:
        if self._local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{secrets.token_hex(4)}"
            shutil.copyfile(src, tmp)
            os.replace(tmp, path)
        else:
            self._call(f"upload {path}", self.fs.put_file, str(src), path)

    def _exists(self, path: str) -> bool:
        return bool(self._call(f"stat {path}", self.fs.exists, path))

    def _ls(self, path: str) -> list[str]:
        try:
            self.fs.invalidate_cache(path)
            entries = self._call(f"list {path}", self.fs.ls, path, detail=False)
        except FileNotFoundError:
            return []
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def check_reachable(self) -> None:
        """Fail fast with StoreUnreachable when the store root cannot be listed."""
        try:
            self.fs.invalidate_cache()
            self._call(f"list {self.root}", self.fs.ls, self.root, detail=False)
        except FileNotFoundError as exc:
            raise StoreUnreachable(f"store {self.url} does not exist") from exc

    # reading -----------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        return [m for m in self._ls(self.root) if NAME_PATTERN.match(m) and self.list_versions(m)]

    def list_versions(self, model: str) -> list[str]:
        """Complete versions (those with a manifest), oldest first."""
        base = f"{self._model_dir(model)}/versions"
        return [
            v
            for v in self._ls(base)
            if NAME_PATTERN.match(v) and self._exists(f"{base}/{v}/{MANIFEST}")
        ]

    def require_model(self, model: str) -> list[str]:
        versions = self.list_versions(model)
        if not versions:
            known = ", ".join(self.list_models()) or "none"
            raise ModelNotFound(
                f"model {model!r} has no published version in {self.url} (models: {known})"
            )
        return versions

    def read_manifest(self, model: str, version: str) -> Manifest:
        path = f"{self._version_dir(model, version)}/{MANIFEST}"
        try:
            raw = self._read(path)
        except FileNotFoundError as exc:
            raise VersionNotFound(
                f"version {version!r} of model {model!r} not found (no manifest) in {self.url}"
            ) from exc
        manifest = Manifest.parse(raw, f"{self.url}/{model}/versions/{version}/{MANIFEST}")
        if manifest.version != version or manifest.data["model"] != model:
            raise CorruptManifest(
                f"{path}: manifest names {manifest.data['model']}/{manifest.version}, "
                f"expected {model}/{version}"
            )
        return manifest

    def read_file(self, model: str, version: str, name: str) -> bytes:
        try:
            return self._read(f"{self._version_dir(model, version)}/{name}")
        except FileNotFoundError as exc:
            raise VerificationError(
                f"{self.version_url(model, version)}/{name}: file {name!r} is missing"
            ) from exc

    def verify(self, model: str, version: str) -> Manifest:
        """Check every file's sha256 and size; the error names the first bad file."""
        manifest = self.read_manifest(model, version)
        for name, meta in manifest.files.items():
            data = self.read_file(model, version, name)
            digest = hashlib.sha256(data).hexdigest()
            if len(data) != meta["size"] or digest != meta["sha256"]:
                raise VerificationError(
                    f"{self.version_url(model, version)}/{name}: checksum mismatch for file "
                    f"{name!r} (expected sha256 {meta['sha256'][:12]}… size {meta['size']}, "
                    f"got {digest[:12]}… size {len(data)})"
                )
        return manifest

    def fetch(self, model: str, version: str, cache_dir: str | Path) -> Path:
        """Copy a version into ``cache_dir/<model>/<version>`` and verify the copy.

        The copy is assembled in a temporary directory and renamed into place only
        once verified, so the cache never holds an unverified version.
        """
        target = Path(cache_dir) / check_name("model", model) / check_name("version", version)
        if target.is_dir():
            try:
                verify_dir(target)
                return target
            except StoreError:
                shutil.rmtree(target, ignore_errors=True)
        manifest = self.read_manifest(model, version)
        tmp = target.with_name(f".{version}.partial-{secrets.token_hex(3)}")
        tmp.mkdir(parents=True)
        try:
            for name in manifest.files:
                (tmp / name).write_bytes(self.read_file(model, version, name))
            (tmp / MANIFEST).write_text(json.dumps(dict(manifest.data), indent=2))
            verify_dir(tmp, manifest)
            try:
                os.replace(tmp, target)
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def read_alias(self, model: str, alias: str) -> dict[str, Any] | None:
        path = self._alias_path(model, alias)
        try:
            raw = self._read(path)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CorruptManifest(f"{self.url}/{model}/aliases/{alias}.json: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("version"), str):
            raise CorruptManifest(f"{self.url}/{model}/aliases/{alias}.json: no 'version'")
        return data

    def resolve(self, model: str, alias: str) -> str:
        """The version an alias points at. ``previous`` is read from the stable alias."""
        if alias == PREVIOUS:
            stable = self.read_alias(model, STABLE)
            if stable and stable.get("previous"):
                return str(stable["previous"])
            if stable is None:
                self.require_model(model)
            raise AliasNotFound(f"model {model!r} has no previous version in {self.url}")
        data = self.read_alias(model, alias)
        if data is None:
            self.require_model(model)
            raise AliasNotFound(f"model {model!r} has no alias {alias!r} in {self.url}")
        return str(data["version"])

    # writing -----------------------------------------------------------------------------
    def publish(
        self,
        model: str,
        files: Mapping[str, Path | bytes],
        manifest: Mapping[str, Any],
        version: str | None = None,
    ) -> Manifest:
        """Publish a new immutable version: data files first, the manifest last."""
        version = check_name("version", version or new_version_id())
        vdir = self._version_dir(model, version)
        if self._exists(f"{vdir}/{MANIFEST}"):
            raise VersionExists(
                f"version {version!r} of {model!r} already exists; versions are immutable"
            )
        entries: dict[str, dict[str, Any]] = {}
        for name, src in files.items():
            if "/" in name or name == MANIFEST:
                raise StoreError(f"invalid file name {name!r} in a version")
            if isinstance(src, bytes | bytearray):
                digest, size = hashlib.sha256(src).hexdigest(), len(src)
                self._write(f"{vdir}/{name}", bytes(src))
            else:
                digest, size = sha256_file(src)
                self._put_file(Path(src), f"{vdir}/{name}")
            entries[name] = {"sha256": digest, "size": size}
        body = {**manifest, "model": model, "version": version, "files": entries}
        body.setdefault("created", utcnow())
        raw = json.dumps(body, indent=2, sort_keys=True).encode()
        self._write(f"{vdir}/{MANIFEST}", raw)
        return Manifest(body)

    def promote(
        self,
        model: str,
        version: str,
        *,
        alias: str = STABLE,
        force: bool = False,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version`` and record the old target as ``previous``.

        Promoting the version the alias already names is a no-op, so retries are safe.
        """
        self.read_manifest(model, version)
        current = self.read_alias(model, alias)
        if current and current["version"] == version:
            return current
        history = list(current.get("history", [])) if current else []
        if current:
            history.append(current["version"])
        body = {
            "version": version,
            "previous": current["version"] if current else None,
            "updated": utcnow(),
            "forced": force,
            "reason": reason,
            "history": history[-20:],
        }
        self._write(self._alias_path(model, alias), json.dumps(body, indent=2).encode())
        return body

    def rollback(
        self, model: str, *, alias: str = STABLE, from_version: str | None = None
    ) -> dict[str, Any]:
        """Move ``alias`` back to its previous version.

        With ``from_version`` the call is idempotent: if the alias no longer names that
        version, it was already rolled back and nothing is written.
        """
        current = self.read_alias(model, alias)
        if current is None:
            self.require_model(model)
            raise AliasNotFound(f"model {model!r} has no alias {alias!r} to roll back")
        if from_version is not None and current["version"] != from_version:
            return current
        previous = current.get("previous")
        if not previous:
            raise AliasNotFound(
                f"model {model!r} alias {alias!r} at {current['version']} has no previous version"
            )
        self.read_manifest(model, previous)
        history = [v for v in current.get("history", []) if v != previous]
        body = {
            "version": previous,
            "previous": history[-1] if history else None,
            "updated": utcnow(),
            "forced": False,
            "reason": f"rollback from {current['version']}",
            "rolled_back_from": current["version"],
            "history": history,
        }
        self._write(self._alias_path(model, alias), json.dumps(body, indent=2).encode())
        return body


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def open_store(url: str) -> ModelStore:
    """The one way the rest of recdrill opens a store URL."""
    return ModelStore(url)
