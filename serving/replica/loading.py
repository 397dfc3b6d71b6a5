"""Which model version a replica serves: the start-up chain, alias polling and hot swaps.

Start-up chain (first that loads wins):

1. the configured alias (``stable`` by default), verified in the store;
2. else ``previous`` (the stable alias's previous version);
3. else the versions the alias named before (its ``history``), most recent first;
   never any other version in the store, since a candidate the promotion gate refused
   verifies just as well as a good one;
4. else, from the local cache dir, the versions this replica served, the last one
   first (``<cache>/<model>/.served``, rewritten at every swap), so a restart works while
   the store is down. Never the newest cached copy: after a rollback that is the version
   rolled back (a drill's store-outage restart served one, left in the cache by an earlier
   model-rollout). A version whose store copy failed verification in this process is
   never taken from the cache either.

"Verified" means every file's sha256 and size match the manifest. When a version is
already in the cache, its store copy is verified too, so corrupting the store's
objects makes replicas refuse that version even where an old good copy is cached.

A new version is fully built and warmed before the one reference :attr:`current`
is replaced, so requests see either the old or the new version, never a mix. A
failed load leaves the old version serving and is counted; a version that failed is
retried with back-off (an admin reload retries at once).

A version that is not whole in the store yet (no manifest, or a file the manifest names
is absent) is what a DR region sees while replication is under way, since S3
replication is unordered: an alias can arrive before its version, a manifest before its
data. That is counted as ``incomplete``, never refused nor backed off, so the replica keeps
serving what it has and picks the version up at the first poll after it verifies.

Polls are jittered (each wait is ``poll_interval_s`` × a uniform factor in 1 ± 0.5):
replicas started together would otherwise poll in step and all load a promoted version
at the same moment, leaving the router no replica at full speed (the model-rollout drill
at 400 rps saw 10% degraded answers and p99 895 ms when all 7 reloaded at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from model.artifacts import read_artifacts
from model.store import (
    MANIFEST,
    PREVIOUS,
    CorruptManifest,
    ModelStore,
    StoreError,
    StoreUnreachable,
    VerificationError,
    VersionNotFound,
    open_store,
    utcnow,
    verify_dir,
)
from serving.replica.engine import EngineOptions, ServingModel
from serving.replica.metrics import ReplicaMetrics

log = logging.getLogger("recdrill.replica.loading")
POLL_JITTER = 0.5  # each wait is the poll interval times a factor in [1 - j, 1 + j]


def poll_delay(interval_s: float, rng: random.Random) -> float:
    """The wait before the next alias poll: the interval, jittered so replicas drift apart."""
    return interval_s * rng.uniform(1.0 - POLL_JITTER, 1.0 + POLL_JITTER)


Origin = Literal["alias", "previous", "history", "cache"]
_MAX_RETRY_S = 30.0
SERVED_FILE = ".served"  # in <cache>/<model>/: versions served, the last one last
_SERVED_KEPT = 16


@dataclass(frozen=True)
class LoadedModel:
    serving: ServingModel
    origin: Origin
    source: Literal["store", "cache"]
    loaded_at: str = field(default_factory=utcnow)

    @property
    def version(self) -> str:
        return self.serving.version


class BadArtifacts(Exception):
    """The files verified but could not be turned into a model (wrong shapes, bad content)."""


def release_free_memory() -> None:
    """Hand freed heap (downloaded bytes, the old version) back to the OS, where glibc allows."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, StoreUnreachable):
        return "store_unreachable"
    if isinstance(exc, VerificationError):
        return "verification_failed"
    if isinstance(exc, CorruptManifest):
        return "corrupt_manifest"
    if isinstance(exc, VersionNotFound):
        return "version_not_found"
    if isinstance(exc, BadArtifacts):
        return "bad_artifacts"
    return "store_error" if isinstance(exc, StoreError) else "error"


class ModelLoader:
    """Owns the served version; every load goes through one lock."""

    def __init__(
        self,
        *,
        store_url: str,
        model: str,
        alias: str,
        cache_dir: Path,
        metrics: ReplicaMetrics,
        options: EngineOptions,
        poll_interval_s: float = 5.0,
        store_factory: Callable[[str], ModelStore] = open_store,
    ) -> None:
        self.store_url, self.model, self.alias = store_url, model, alias
        self.cache_dir = Path(cache_dir)
        self.metrics = metrics
        self.options = options
        self.poll_interval_s = poll_interval_s
        self._store_factory = store_factory
        self._store: ModelStore | None = None
        self.current: LoadedModel | None = None
        self._refused: set[str] = set()  # versions whose store copy failed verification
        self._retry_at: dict[str, tuple[float, int]] = {}  # version -> (monotonic, failures)
        self._lock = asyncio.Lock()
        self._rng = random.Random()  # seeded from the OS: each replica drifts its own way
        self.loading: str | None = None  # the version being loaded beside the served one

    # ------------------------------------------------------------------ async API
    async def load_initial(self) -> bool:
        async with self._lock:
            loaded = await asyncio.to_thread(self._startup_chain)
            if loaded is not None:
                self._swap(loaded)
            return loaded is not None

    async def refresh(self, *, force: bool = False) -> dict[str, Any]:
        """Re-resolve the alias; load and swap when it names another version."""
        if self.current is None:
            loaded = await self.load_initial()
            return self._result(changed=loaded, error=None if loaded else "no loadable version")
        async with self._lock:
            try:
                version = await asyncio.to_thread(self._resolve_alias)
            except StoreError as exc:
                self.metrics.poll_errors.inc()
                log.warning("alias poll failed: %s", exc, extra={"reason": failure_reason(exc)})
                return self._result(changed=False, error=str(exc))
            if version == self.current.version:
                return self._result(changed=False)
            if not force and not self._due(version):
                return self._result(changed=False, error=f"version {version} failed recently")
            self.loading = version
            try:
                loaded = await asyncio.to_thread(self._load_from_store, version, "alias")
            except Exception as exc:
                await asyncio.to_thread(self._record_failure, version, exc)
                return self._result(changed=False, error=str(exc))
            finally:
                self.loading = None
            self._swap(loaded)
            return self._result(changed=True)

    async def poll_forever(self) -> None:
        """Follow the alias until cancelled; store outages are logged and counted, never fatal."""
        while True:
            await asyncio.sleep(poll_delay(self.poll_interval_s, self._rng))
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # a poll must never end the loop
                log.exception("unexpected error while polling the alias")

    # ------------------------------------------------------------------ internals
    def _result(self, *, changed: bool, error: str | None = None) -> dict[str, Any]:
        cur = self.current
        return {
            "changed": changed,
            "version": cur.version if cur else None,
            "origin": cur.origin if cur else None,
            "error": error,
        }

    def _swap(self, loaded: LoadedModel) -> None:
        old = self.current
        self.current = loaded
        self._refused.discard(loaded.version)
        self._retry_at.pop(loaded.version, None)
        self.metrics.loads.labels(loaded.origin).inc()
        self.metrics.model.info(
            {
                "model": self.model,
                "version": loaded.version,
                "alias": self.alias,
                "origin": loaded.origin,
                "source": loaded.source,
                "search": loaded.serving.search,
            }
        )
        self.metrics.observe_search(loaded.serving.search)
        self._remember_served(loaded.version)
        release_free_memory()
        log.info(
            "serving model %s version %s (%s from %s, %s search)",
            self.model,
            loaded.version,
            loaded.origin,
            loaded.source,
            loaded.serving.search,
            extra={"version": loaded.version, "replaced": old.version if old else None},
        )

    def _served_file(self) -> Path:
        return self.cache_dir / self.model / SERVED_FILE

    def _served(self) -> list[str]:
        """The versions this replica served, the last one last; [] when unreadable."""
        try:
            data = json.loads(self._served_file().read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [v for v in data if isinstance(v, str) and v and Path(v).name == v != ".."]

    def _remember_served(self, version: str) -> None:
        """Append ``version`` to the served list (temporary file, then rename: a crash
        leaves the old list, never half of one). Failing to write it only costs the cache
        fallback this version, so it is logged, not raised."""
        earlier = [v for v in self._served() if v != version][-(_SERVED_KEPT - 1) :]
        served = [*earlier, version]
        path = self._served_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{SERVED_FILE}.tmp")
            tmp.write_text(json.dumps(served))
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot record the served version in the cache: %s", exc)

    def _due(self, version: str) -> bool:
        retry = self._retry_at.get(version)
        return retry is None or time.monotonic() >= retry[0]

    def _incomplete(self, version: str, exc: BaseException) -> bool:
        """Whether ``exc`` means the version is still arriving: no manifest yet, or a file
        the manifest names absent (a checksum mismatch is corruption, not this)."""
        if isinstance(exc, VersionNotFound):
            return True
        if not isinstance(exc, VerificationError):
            return False
        try:
            store = self.store()
            files = store.read_manifest(self.model, version).files
            vdir = f"{store.root}/{self.model}/versions/{version}"
            store.fs.invalidate_cache(vdir)
            return not all(store.fs.exists(f"{vdir}/{name}") for name in files)
        except Exception:  # unreadable now: judge it by the original error
            return False

    def _record_failure(self, version: str | None, exc: BaseException) -> None:
        if version is not None and self._incomplete(version, exc):
            self.metrics.load_failures.labels("incomplete").inc()
            log.info(
                "version %s is not whole in the store yet, keeping the one served: %s",
                version, exc, extra={"reason": "incomplete", "version": version},
            )  # fmt: skip
            self._retry_at.pop(version, None)
            return
        reason = failure_reason(exc)
        self.metrics.load_failures.labels(reason).inc()
        log.warning("model load failed: %s", exc, extra={"reason": reason, "version": version})
        if version is None:
            return
        if reason in ("verification_failed", "corrupt_manifest", "bad_artifacts"):
            self._refused.add(version)
        failures = self._retry_at.get(version, (0.0, 0))[1] + 1
        delay = min(_MAX_RETRY_S, max(self.poll_interval_s, 1.0) * 2 ** (failures - 1))
        self._retry_at[version] = (time.monotonic() + delay, failures)

    def store(self) -> ModelStore:
        if self._store is None:
            self._store = self._store_factory(self.store_url)
        return self._store

    def _resolve_alias(self) -> str:
        return self.store().resolve(self.model, self.alias)

    def _build(self, directory: Path, manifest) -> ServingModel:
        try:
            art = read_artifacts(directory, manifest)
            return ServingModel.build(self.model, manifest, art, self.options, consume=True)
        except Exception as exc:
            raise BadArtifacts(f"{directory}: cannot build the model: {exc}") from exc

    def _load_from_store(self, version: str, origin: Origin) -> LoadedModel:
        store = self.store()
        if (self.cache_dir / self.model / version / MANIFEST).is_file():
            store.verify(self.model, version)  # the cached copy is only as good as the store's
        path = store.fetch(self.model, version, self.cache_dir)
        manifest = verify_dir(path)
        return LoadedModel(self._build(path, manifest), origin, "store")

    def _load_from_cache(self) -> LoadedModel | None:
        """The versions this replica served, the last one first, that are cached whole."""
        model_dir = self.cache_dir / self.model
        for version in reversed(self._served()):
            path = model_dir / version
            if version in self._refused or not path.is_dir():
                continue
            try:
                manifest = verify_dir(path)
                return LoadedModel(self._build(path, manifest), "cache", "cache")
            except Exception as exc:
                self._record_failure(version, exc)
        return None

    def _startup_chain(self) -> LoadedModel | None:
        tried: set[str] = set()
        try:
            store = self.store()
            store.check_reachable()  # a missing root is an outage, not "no such model"
            for origin, alias in (("alias", self.alias), ("previous", PREVIOUS)):
                try:
                    version = store.resolve(self.model, alias)
                except StoreUnreachable:
                    raise
                except StoreError as exc:
                    log.warning("cannot resolve alias %s: %s", alias, exc)
                    continue
                if version in tried:
                    continue
                tried.add(version)
                if loaded := self._try_store(version, origin):
                    return loaded
            for version in self._alias_history(store):
                if version not in tried:
                    tried.add(version)
                    if loaded := self._try_store(version, "history"):
                        return loaded
        except StoreUnreachable as exc:
            self.metrics.load_failures.labels("store_unreachable").inc()
            log.warning("store unreachable, trying the local cache: %s", exc)
        loaded = self._load_from_cache()
        if loaded is None:
            log.error("no loadable model version in the store or the cache %s", self.cache_dir)
        return loaded

    def _alias_history(self, store: ModelStore) -> list[str]:
        """Versions the alias named before, most recent first; [] when it cannot be read."""
        try:
            data = store.read_alias(self.model, self.alias)
        except StoreUnreachable:
            raise
        except StoreError as exc:
            log.warning("cannot read the history of alias %s: %s", self.alias, exc)
            return []
        history = data.get("history") if data else None
        return (
            [str(v) for v in reversed(history) if isinstance(v, str)]
            if isinstance(history, list)
            else []
        )

    def _try_store(self, version: str, origin: Origin) -> LoadedModel | None:
        """Load one version; None when it is bad. StoreUnreachable propagates to end the chain."""
        try:
            return self._load_from_store(version, origin)
        except StoreUnreachable:
            raise
        except Exception as exc:
            self._record_failure(version, exc)
            return None
