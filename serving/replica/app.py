"""The replica's ASGI app: the HTTP contract of DESIGN.md over the engine and loader.

The server listens before a model is loaded: ``/healthz`` answers 200 at once and
``/readyz`` 503 until a verified version is swapped in, so a launcher can tell a slow
load from a dead process. Every error body is JSON ``{"error", "detail"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.replica.admission import RETRY_AFTER_S, InFlightLimit
from serving.replica.batching import BatcherClosed, MicroBatcher, Overloaded
from serving.replica.engine import Answer, EngineOptions, Query
from serving.replica.loading import ModelLoader
from serving.replica.metrics import ReplicaMetrics
from serving.replica.settings import ReplicaSettings
from serving.schema import (
    MAX_BODY_BYTES,
    RequestError,
    check_content_type,
    parse_recommend,
)

log = logging.getLogger("recdrill.replica")
DRAIN_BYTES = 1 << 20  # how much of an oversized body is read (and dropped) before the 413


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def error_response(status: int, error: str, detail: str, **extra) -> Response:
    return json_response({"error": error, "detail": detail, **extra}, status)


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read at most ``limit`` bytes; 413 as soon as more arrive, with or without Content-Length.

    Up to DRAIN_BYTES of an oversized body are read and dropped before answering: closing
    a socket with unread data makes the kernel send a reset, which can destroy the 413
    before the client reads it. Nothing over ``limit`` is ever kept or parsed.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, "bad_content_length", f"invalid Content-Length {declared!r}")
        if int(declared) > limit:
            if int(declared) <= DRAIN_BYTES:
                await _drain(request, DRAIN_BYTES)
            raise RequestError(413, "body_too_large", f"body of {declared} bytes exceeds {limit}")
    chunks, size = [], 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _drain(request, DRAIN_BYTES - size, stream)
            raise RequestError(413, "body_too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: Request, budget: int, stream=None) -> None:
    """Read and drop up to ``budget`` more bytes of the body."""
    with contextlib.suppress(ClientDisconnect):
        async for chunk in stream or request.stream():
            budget -= len(chunk)
            if budget <= 0:
                return


class ReplicaState:
    """Everything one replica process holds: settings, metrics, loader, batcher, drain flag."""

    def __init__(self, settings: ReplicaSettings, metrics: ReplicaMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or ReplicaMetrics()
        self.loader = ModelLoader(
            store_url=settings.store,
            model=settings.model,
            alias=settings.alias,
            cache_dir=settings.cache_dir,
            metrics=self.metrics,
            options=EngineOptions(
                exclude_seen=settings.exclude_seen, device=settings.device, search=settings.search
            ),
            poll_interval_s=settings.poll_interval_s,
        )
        self.batcher: MicroBatcher[Query, Answer] = MicroBatcher(
            self._compute,
            max_batch=settings.max_batch,
            max_wait_s=settings.max_wait_s,
            concurrency=settings.batch_concurrency,
            on_batch=self.metrics.observe_batch,
            max_queue=settings.max_queue,
            max_queue_s=settings.max_queue_s,
            on_shed=self.shed,
        )
        self.draining = False
        self.metrics.ready.set(0)

    def shed(self, reason: str) -> None:
        """Count one request refused by admission control (batcher bounds or in-flight cap)."""
        self.metrics.shed.labels(reason).inc()

    def _compute(self, queries) -> list[Answer]:
        loaded = self.loader.current  # one read: the whole batch uses one version
        if loaded is None:
            raise RuntimeError("no model loaded")
        serving = loaded.serving
        fallbacks = serving.exact_fallbacks
        answers = serving.recommend_batch(list(queries))
        if serving.exact_fallbacks != fallbacks:
            self.metrics.exact_fallbacks.inc(serving.exact_fallbacks - fallbacks)
        return answers

    @property
    def ready(self) -> bool:
        return self.loader.current is not None and not self.draining

    def start_draining(self) -> None:
        if not self.draining:
            self.draining = True
            self.metrics.draining.set(1)
            self.metrics.ready.set(0)
            log.info("draining: readiness is now false")

    async def run_loader(self) -> None:
        while not await self.loader.load_initial():
            await asyncio.sleep(self.settings.poll_interval_s)
        if not self.draining:
            self.metrics.ready.set(1)
        await self.loader.poll_forever()


class MetricsMiddleware:
    """Counts every HTTP request by route and status and times it, 404s included."""

    def __init__(self, app: ASGIApp, metrics: ReplicaMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe_request(scope["path"], status, time.perf_counter() - start)


def create_app(settings: ReplicaSettings, state: ReplicaState | None = None) -> Starlette:
    state = state or ReplicaState(settings)

    async def recommend(request: Request) -> Response:
        try:
            check_content_type(request.headers.get("content-type"))
            body = parse_recommend(await read_limited_body(request))
        except RequestError as exc:
            return json_response(exc.body(), exc.status)
        except ClientDisconnect:
            return error_response(400, "client_disconnect", "the client went away mid-body")
        query = Query(body.user_id, body.k, tuple(body.history or ()), tuple(body.exclude or ()))
        try:
            if settings.test_delay_s:
                await asyncio.sleep(settings.test_delay_s)
            if state.loader.current is None:
                return error_response(503, "not_ready", "no verified model is loaded yet")
            answer = await state.batcher.submit(query)
        except Overloaded as exc:
            return json_response(
                {"error": "overloaded", "detail": str(exc), "reason": exc.reason},
                429,
                {"retry-after": RETRY_AFTER_S},
            )
        except BatcherClosed as exc:
            return error_response(503, "shutting_down", str(exc))
        except asyncio.CancelledError:
            if not state.draining:
                raise
            # A forced stop (second signal, grace over) cancels us: say so instead of a 500.
            return error_response(503, "shutting_down", "the replica was stopped mid-request")
        state.metrics.observe_answer(answer.source, degraded=False)
        return json_response(
            {
                "items": answer.items,
                "scores": answer.scores,
                "model_version": answer.model_version,
                "degraded": False,
                "source": answer.source,
                "zone": settings.zone,
                "replica": settings.replica_id,
            }
        )

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok", "replica": settings.replica_id})

    async def readyz(request: Request) -> Response:
        cur = state.loader.current
        if state.ready:
            body = {"ready": True, "version": cur.version if cur else None}
            if state.loader.loading:  # a new version loads beside the served one
                body["loading"] = state.loader.loading
            return json_response(body)
        reason = "draining" if state.draining else "no verified model loaded yet"
        return json_response({"ready": False, "reason": reason}, 503)

    async def model_info(request: Request) -> Response:
        cur = state.loader.current
        if cur is None:
            return error_response(503, "not_ready", "no verified model is loaded yet")
        manifest = cur.serving.manifest
        return json_response(
            {
                "model": settings.model,
                "version": cur.version,
                "alias": settings.alias,
                "origin": cur.origin,
                "source": cur.source,
                "loaded_at": cur.loaded_at,
                "popular_items": cur.serving.popular[:100],
                "metrics": dict(manifest.data.get("metrics") or {}),
                "exclude_seen": cur.serving.options.exclude_seen,
                "search": cur.serving.search,
                "index": cur.serving.manifest.data.get("index"),
                "zone": settings.zone,
                "replica": settings.replica_id,
            }
        )

    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")

    async def admin_reload(request: Request) -> Response:
        if not settings.admin_token:
            return error_response(404, "not_found", "admin API disabled: no admin token is set")
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), settings.admin_token.encode()
        ):
            return json_response(
                {"error": "unauthorized", "detail": "missing or wrong bearer token"},
                401,
                {"www-authenticate": "Bearer"},
            )
        result = await state.loader.refresh(force=True)
        if result["error"] and not result["changed"]:
            return json_response(
                {"error": "reload_failed", "detail": result["error"], **result}, 503
            )
        return json_response(result)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, "http_error", str(exc.detail), path=request.url.path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.batcher.start()
        loader_task = asyncio.create_task(state.run_loader())
        try:
            yield
        finally:
            loader_task.cancel()
            await asyncio.gather(loader_task, return_exceptions=True)
            await state.batcher.close()

    app = Starlette(
        routes=[
            Route("/v1/recommend", recommend, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/v1/model", model_info, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/admin/reload", admin_reload, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    # Added first, so it sits inside MetricsMiddleware: its 429s are counted like any other.
    app.add_middleware(InFlightLimit, cap=settings.in_flight_cap, on_shed=state.shed)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.state.replica = state
    return app
