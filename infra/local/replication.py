"""Cross-region replication of a ``file://`` model store, as S3 replication does it: late,
out of order, one whole object at a time.

S3 replication is asynchronous and unordered: an alias object can reach the DR bucket
before the files of the version it names, and a manifest before its data. This class
reproduces exactly that, so the DR region's replicas are tested against it: every object
written in the source becomes due ``lag_s`` (+ a random ``spread_s``) after it was first
seen, and the due objects are copied in a shuffled order. Each copy is atomic (temporary
file + rename), so the target only ever holds whole objects, as S3 does. Deletes are not
replicated (S3's default). The source going away (a lost region) is counted, never fatal.

It also records the replication lag of each promoted version: from the promotion (the
alias object's ``updated`` time) until the target holds that version whole and its alias
names it (or a later promotion).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Promotion", "Replicator"]

ALIAS = "stable"
_KEEP_PROMOTIONS = 20
_TMP_MARK = ".tmp-"


@dataclass
class _Pending:
    key: tuple[int, int, int]  # size, mtime_ns, inode: a rewritten object is a new one
    seen: float
    jitter: float


@dataclass
class Promotion:
    """One version the source's alias named, and when (if ever) the target caught up."""

    model: str
    version: str
    promoted_at: float  # epoch seconds
    order: int
    replicated_at: float | None = None

    def lag_s(self, now: float) -> float:
        end = self.replicated_at if self.replicated_at is not None else now
        return max(0.0, end - self.promoted_at)


def _epoch(stamp: Any, default: float) -> float:
    if not isinstance(stamp, str):
        return default
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def _read_alias(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("version"), str) else None


@dataclass
class Replicator:
    """Copies ``source`` to ``target``; :meth:`step` is one scan and one round of copies."""

    source: Path
    target: Path
    lag_s: float = 0.0
    spread_s: float = 0.0
    seed: int | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    pending: dict[str, _Pending] = field(default_factory=dict)
    copied: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    promotions: dict[tuple[str, str], Promotion] = field(default_factory=dict)
    copies: int = 0
    errors: int = 0
    source_up: bool = True

    def __post_init__(self) -> None:
        self.source, self.target = Path(self.source), Path(self.target)
        # a version promoted before replication started is late from the start, not before
        self.started_at = self.wall()
        self.rng = random.Random(self.seed)
        self.set_lag(self.lag_s, self.spread_s)

    def set_lag(self, lag_s: float, spread_s: float | None = None) -> None:
        """Change the lag at run time; objects already waiting are due by the new lag."""
        spread = self.spread_s if spread_s is None else spread_s
        for name, value in (("lag_s", lag_s), ("spread_s", spread)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        self.lag_s, self.spread_s = float(lag_s), float(spread)

    # ---- scanning ------------------------------------------------------------------------
    def scan(self, *, immediate: bool = False) -> int:
        """Note every new or rewritten source object; returns how many were added.
        ``immediate`` makes them due now (the initial sync of existing objects, as S3
        Batch Replication does for objects that predate the rule)."""
        now = self.clock()
        if not self.source.is_dir():
            self.source_up = False
            return 0
        added = 0
        try:
            for dirpath, _, files in os.walk(self.source, onerror=self._walk_error):
                for name in files:
                    if _TMP_MARK in name:
                        continue
                    path = Path(dirpath) / name
                    try:
                        st = path.stat()
                    except FileNotFoundError:
                        continue
                    rel = path.relative_to(self.source).as_posix()
                    key = (st.st_size, st.st_mtime_ns, st.st_ino)
                    if self.copied.get(rel) == key:
                        continue
                    waiting = self.pending.get(rel)
                    if waiting is None or waiting.key != key:
                        seen = now - (self.lag_s + self.spread_s) if immediate else now
                        jitter = 0.0 if immediate else self.rng.uniform(0.0, self.spread_s)
                        self.pending[rel] = _Pending(key, seen, jitter)
                        added += 1
            self.source_up = self.source.is_dir()
        except OSError:
            self.source_up = False
        self._note_promotions()
        return added

    def _walk_error(self, exc: OSError) -> None:
        self.errors += 1
        self.source_up = False

    def _note_promotions(self) -> None:
        for alias in self.source.glob(f"*/aliases/{ALIAS}.json"):
            data = _read_alias(alias)
            if data is None:
                continue
            model = alias.parent.parent.name
            key = (model, data["version"])
            if key not in self.promotions:
                promoted = max(_epoch(data.get("updated"), self.wall()), self.started_at)
                self.promotions[key] = Promotion(model, key[1], promoted, len(self.promotions))
        if len(self.promotions) > _KEEP_PROMOTIONS:
            for key in sorted(self.promotions, key=lambda k: self.promotions[k].order)[
                : len(self.promotions) - _KEEP_PROMOTIONS
            ]:
                del self.promotions[key]

    # ---- copying -------------------------------------------------------------------------
    def due(self) -> list[str]:
        """The objects whose lag has passed, in a shuffled order."""
        now = self.clock()
        ready = sorted(
            rel for rel, p in self.pending.items() if now >= p.seen + self.lag_s + p.jitter
        )
        self.rng.shuffle(ready)
        return ready

    def copy(self, rel: str) -> bool:
        """Copy one object whole (temporary file + rename); False when it could not be."""
        waiting = self.pending.get(rel)
        if waiting is None:
            return False
        src, dst = self.source / rel, self.target / rel
        tmp = dst.with_name(f"{dst.name}{_TMP_MARK}{secrets.token_hex(4)}")
        try:
            st = src.stat()  # before the read: a rewrite in between is copied again
            data = src.read_bytes()
        except FileNotFoundError:
            if self.source.is_dir():
                self.pending.pop(rel, None)  # deleted or renamed at the source: not replicated
            else:
                self.source_up = False
                self.errors += 1
            return False
        except OSError:
            self.source_up = False
            self.errors += 1
            return False
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dst)
        except OSError:
            self.errors += 1
            tmp.unlink(missing_ok=True)
            return False
        del self.pending[rel]
        self.copied[rel] = (st.st_size, st.st_mtime_ns, st.st_ino)
        self.copies += 1
        return True

    def step(self) -> int:
        """One scan, then every due object copied; returns how many were copied."""
        self.scan()
        done = sum(self.copy(rel) for rel in self.due())
        self.check_promotions()
        return done

    # ---- what the DR side holds ---------------------------------------------------------
    def target_complete(self, model: str, version: str) -> bool:
        """Whether the target holds ``version`` whole: its manifest and every file it names,
        at the size the manifest records."""
        vdir = self.target / model / "versions" / version
        try:
            manifest = json.loads((vdir / "manifest.json").read_bytes())
            files = manifest["files"]
            return all((vdir / n).stat().st_size == meta["size"] for n, meta in files.items())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False

    def check_promotions(self) -> None:
        now = self.wall()
        for promo in self.promotions.values():
            if promo.replicated_at is not None:
                continue
            alias = _read_alias(self.target / promo.model / "aliases" / f"{ALIAS}.json")
            named = self.promotions.get((promo.model, alias["version"])) if alias else None
            if (
                named is not None
                and named.order >= promo.order
                and self.target_complete(promo.model, promo.version)
            ):
                promo.replicated_at = now

    def behind_s(self, model: str) -> float:
        """How long the target's alias has lagged the source's newest promotion (0: level)."""
        mine = [p for p in self.promotions.values() if p.model == model]
        if not mine:
            return 0.0
        newest = max(mine, key=lambda p: p.order)
        return 0.0 if newest.replicated_at is not None else newest.lag_s(self.wall())

    def state(self) -> dict[str, Any]:
        now = self.wall()
        models = sorted({p.model for p in self.promotions.values()})
        return {
            "source": str(self.source),
            "target": str(self.target),
            "lag_s": self.lag_s,
            "spread_s": self.spread_s,
            "source_up": self.source_up,
            "pending": len(self.pending),
            "copied": self.copies,
            "errors": self.errors,
            "behind_s": {m: round(self.behind_s(m), 3) for m in models},
            "promotions": [
                {
                    "model": p.model,
                    "version": p.version,
                    "replicated": p.replicated_at is not None,
                    "lag_s": round(p.lag_s(now), 3),
                }
                for p in sorted(self.promotions.values(), key=lambda p: p.order)
            ],
        }
