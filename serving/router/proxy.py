"""The router: ``python -m serving.router``. Keeps every product page supplied with
recommendations: per-try timeouts, bounded retries to another replica (another zone when
possible), standby spill-over, passive ejection, and a popular-items fallback marked
``degraded`` when no replica answers in time. Bad input is refused here or passed through
from a replica as the same 4xx, never retried.

A raw ASGI app (no framework on the hot path) on uvloop + httptools, one pooled aiohttp
client with keep-alive, orjson for bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from serving.router.discovery import UpstreamSource
from serving.router.metrics import RouterMetrics
from serving.router.upstreams import Pool, Upstream
from serving.schema import RequestError, check_content_type, parse_recommend

log = logging.getLogger("serving.router")


@dataclass
class RouterSettings:
    retries: int = 2
    try_timeout: float = 0.25
    deadline: float = 1.0
    fallback: bool = True
    discovery_interval: float = 0.2
    retry_budget: float = 50.0
    hedge_after: float = 0.0
    retry_refill: float = 0.2
    store: str | None = None
    model: str | None = None


@dataclass
class KnownModel:
    """The last model the replicas served; kept in memory so the fallback never runs dry."""

    version: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    popular: list[str] = field(default_factory=list)


class Router:
    """Retries draw on a token bucket (``retry_budget`` tokens, ``retry_refill`` back per
    success), so a fleet that is merely overloaded is not hit by a retry storm."""

    def __init__(self, settings: RouterSettings, pool: Pool, source: UpstreamSource) -> None:
        self.settings = settings
        self.pool = pool
        self.source = source
        self.metrics = RouterMetrics()
        self.model = KnownModel()
        self.session: aiohttp.ClientSession | None = None
        self.tasks: list[asyncio.Task] = []
        self._refreshing = False
        self.discovered = False
        self.retry_tokens = settings.retry_budget
        pool.on_eject = lambda up, reason: self.metrics.ejections.labels(up.id, reason).inc()

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self, session: aiohttp.ClientSession | None = None) -> None:
        self.session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=4, ttl_dns_cache=None),
            skip_auto_headers=("User-Agent",),
        )
        if self.settings.store and self.settings.model:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(self._seed_from_store), timeout=10)
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._discover_forever()),
            loop.create_task(self.pool.run_probes(self.session)),
            loop.create_task(self._refresh_model_forever()),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        close_source = getattr(self.source, "aclose", None)
        if close_source is not None:
            await close_source()
        if self.session is not None:
            await self.session.close()

    def _seed_from_store(self) -> None:
        """Fallback items before any replica answers: the stable manifest's popular list."""
        from model.store import open_store

        store = open_store(self.settings.store)  # type: ignore[arg-type]
        model = self.settings.model
        version = store.resolve(model, "stable")  # type: ignore[arg-type]
        manifest = store.read_manifest(model, version)  # type: ignore[arg-type]
        if self.model.version is None:
            info = {"model": model, "version": version, "alias": "stable", "source": "store"}
            self.model = KnownModel(version, info, manifest.popular_items)

    async def _discover_forever(self) -> None:
        while True:
            try:
                self.pool.update(await self.source())
                self.discovered = True
            except Exception as exc:  # any source failure: keep the last list, try again
                log.warning("discovery failed: %s", exc)
            await asyncio.sleep(self.settings.discovery_interval)

    async def _refresh_model_forever(self) -> None:
        while True:
            if not self.model.popular or self.model.info.get("source") != "replica":
                now = self.pool.clock()
                up = next((u for u in self.pool.upstreams.values() if u.available(now)), None)
                if up is not None:
                    await self._refresh_model(up)
            await asyncio.sleep(2.0)

    async def _refresh_model(self, up: Upstream) -> None:
        """Learn version and popular items from a replica's ``GET /v1/model``."""
        if self._refreshing or self.session is None:
            return
        self._refreshing = True
        try:
            timeout = aiohttp.ClientTimeout(total=2.0)
            async with self.session.get(f"{up.url}/v1/model", timeout=timeout) as resp:
                if resp.status != 200:
                    return
                info = orjson.loads(await resp.read())
            popular = info.get("popular_items")
            if isinstance(popular, list) and popular:
                info["source"] = "replica"
                self.model = KnownModel(str(info.get("version")), info, [str(i) for i in popular])
                self.metrics.model_refreshes.inc()
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
            pass
        finally:
            self._refreshing = False

    # ---- the hot path ----------------------------------------------------------------
    async def recommend(self, body: bytes, content_type: str | None) -> tuple[int, bytes]:
        started = time.monotonic()
        try:
            check_content_type(content_type)
            request = parse_recommend(body)
        except RequestError as exc:
            self.metrics.requests.labels("client_error").inc()
            return exc.status, orjson.dumps(exc.body())
        status, payload, outcome = await self._forward(body, request, started)
        self.metrics.requests.labels(outcome).inc()
        self.metrics.latency.observe(time.monotonic() - started)
        return status, payload

    async def _forward(self, body: bytes, request, started: float) -> tuple[int, bytes, str]:
        """Tries in turn (and a hedge when ``hedge_after`` passes with no answer) until one
        answers, the tries or the deadline run out; then the fallback."""
        deadline = started + self.settings.deadline
        tried: list[Upstream] = []
        pending: set[asyncio.Task] = set()
        reason = "no_healthy_upstream"
        tries_left = self.settings.retries + 1
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    reason = "deadline_exceeded"
                    break
                if not pending:
                    up, why = self._next_upstream(tried, tries_left)
                    if up is None:
                        reason = why or reason
                        break
                    tries_left -= 1
                    pending.add(self._launch(up, body, left))
                hedge = self.settings.hedge_after if tries_left > 0 and len(pending) == 1 else 0
                done, pending = await asyncio.wait(
                    pending,
                    timeout=min(left, hedge) if hedge > 0 else left,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    up, result = task.result()
                    if isinstance(result, str):
                        reason = result
                        continue
                    return self._answered(up, *result)
                if not done and hedge > 0 and pending:
                    up, _ = self._next_upstream(tried, tries_left)
                    if up is not None:
                        tries_left -= 1
                        self.metrics.hedges.inc()
                        pending.add(self._launch(up, body, deadline - time.monotonic()))
        finally:
            for task in pending:
                task.cancel()
        return self._fallback(request, reason)

    def _next_upstream(self, tried: list[Upstream], tries_left: int) -> tuple[Upstream | None, str]:
        """The next replica to try, spending a retry token for every try after the first."""
        if tries_left <= 0:
            return None, ""
        up = self.pool.choose(tried)
        if up is None:
            return None, "" if tried else "no_healthy_upstream"
        if tried:
            if self.retry_tokens < 1:
                return None, "retry_budget_exhausted"
            self.retry_tokens -= 1
            self.metrics.retries.inc()
        tried.append(up)
        return up, ""

    def _launch(self, up: Upstream, body: bytes, left: float) -> asyncio.Task:
        timeout = max(0.001, min(self.settings.try_timeout, left))
        return asyncio.get_running_loop().create_task(self._try(up, body, timeout))

    def _answered(self, up: Upstream, status: int, payload: bytes) -> tuple[int, bytes, str]:
        if status != 200:
            return status, payload, "client_error"
        self.pool.record_success(up)
        self.retry_tokens = min(
            self.settings.retry_budget, self.retry_tokens + self.settings.retry_refill
        )
        self._note_version(up, payload)
        return 200, payload, "ok"

    async def _try(
        self, up: Upstream, body: bytes, timeout: float
    ) -> tuple[Upstream, tuple[int, bytes] | str]:
        """One try: (status, body) for 200/4xx, or the failure reason as a string."""
        up.inflight += 1
        up.tries += 1
        try:
            async with self.session.post(  # type: ignore[union-attr]
                f"{up.url}/v1/recommend",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                payload = await resp.read()
                status = resp.status
        except TimeoutError:
            return up, self._failed(up, "timeout")
        except aiohttp.ClientConnectorError:
            return up, self._failed(up, "connect_error")
        except (aiohttp.ClientError, OSError):
            return up, self._failed(up, "disconnected")
        finally:
            up.inflight -= 1
        if status >= 500:
            return up, self._failed(up, f"upstream_{status}")
        if status == 429:
            self.metrics.tries.labels(up.id, "shed").inc()
            return up, "upstream_429"
        self.metrics.tries.labels(up.id, "ok" if status == 200 else "client_error").inc()
        return up, (status, payload)

    def _failed(self, up: Upstream, reason: str) -> str:
        self.metrics.tries.labels(up.id, reason).inc()
        self.pool.record_failure(up, reason)
        return reason

    def _note_version(self, up: Upstream, payload: bytes) -> None:
        if self._refreshing:
            return
        try:
            version = orjson.loads(payload).get("model_version")
        except (ValueError, AttributeError):
            return
        if version and version != self.model.version:
            asyncio.get_running_loop().create_task(self._refresh_model(up))

    def _fallback(self, request, reason: str) -> tuple[int, bytes, str]:
        if not self.settings.fallback or not self.model.popular:
            detail = "no replica answered" + (
                "" if self.settings.fallback else " and the fallback is turned off"
            )
            return (
                503,
                orjson.dumps({"error": "unavailable", "detail": detail, "reason": reason}),
                "error",
            )
        exclude = set(request.exclude or ())
        items = [i for i in self.model.popular if i not in exclude][: request.k]
        self.metrics.degraded.labels(reason).inc()
        answer = {
            "items": items,
            "scores": [round(1.0 / (rank + 1), 6) for rank in range(len(items))],
            "model_version": self.model.version or "unknown",
            "degraded": True,
            "source": "popular",
            "zone": "router",
            "replica": "router",
            "reason": reason,
        }
        return 200, orjson.dumps(answer), "degraded"

    # ---- operations ------------------------------------------------------------------
    def ready(self) -> bool:
        now = self.pool.clock()
        return any(u.available(now) for u in self.pool.upstreams.values()) or bool(
            self.settings.fallback and self.model.popular
        )

    def upstreams_view(self) -> dict[str, Any]:
        now = self.pool.clock()
        return {
            "upstreams": [u.describe(now) for u in self.pool.upstreams.values()],
            "counts": self.pool.counts(),
            "active_share": round(self.pool.active_share(now), 4),
            "serving_capacity": round(self.pool.serving_capacity(now), 3),
            "model_version": self.model.version,
            "popular_known": len(self.model.popular),
        }
