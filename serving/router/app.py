"""The router's HTTP side: a raw ASGI app (no framework on the hot path) and its server."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import orjson

from serving.router.proxy import Router
from serving.schema import MAX_BODY_BYTES, RequestError

JSON = [(b"content-type", b"application/json")]


def _response(status: int, body: bytes, headers=JSON) -> tuple[int, bytes, list]:
    return status, body, headers


async def read_body(receive) -> bytes | None:
    """The request body, or None once it passes MAX_BODY_BYTES (the caller answers 413)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def build_app(router: Router):
    """The ASGI application around one Router."""

    async def handle(scope, receive) -> tuple[int, bytes, list]:
        method, path = scope["method"], scope["path"]
        if path == "/v1/recommend":
            if method != "POST":
                return _response(405, b'{"error":"method_not_allowed","detail":"use POST"}')
            headers = dict(scope["headers"])
            body = await read_body(receive)
            if body is None:
                err = RequestError(413, "body_too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
                return _response(413, orjson.dumps(err.body()))
            content_type = headers.get(b"content-type", b"").decode("latin-1") or None
            status, payload = await router.recommend(body, content_type)
            return _response(status, payload)
        if method != "GET":
            return _response(405, b'{"error":"method_not_allowed","detail":"use GET"}')
        if path == "/healthz":
            return _response(200, b'{"status":"ok"}')
        if path == "/readyz":
            ok = router.ready()
            return _response(
                200 if ok else 503, orjson.dumps({"ready": ok, **router.pool.counts()})
            )
        if path == "/metrics":
            body, content_type = router.metrics.render(router.pool)
            return _response(200, body, [(b"content-type", content_type.encode())])
        if path == "/v1/upstreams":
            return _response(200, orjson.dumps(router.upstreams_view()))
        if path == "/v1/model":
            if not router.model.info:
                return _response(503, b'{"error":"unknown_model","detail":"no model seen yet"}')
            return _response(
                200, orjson.dumps({**router.model.info, "popular_items": router.model.popular})
            )
        return _response(404, orjson.dumps({"error": "not_found", "detail": f"no route {path}"}))

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await router.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await router.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        status, body, headers = await handle(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class RouterServer:
    """uvicorn's Server, but SIGTERM/SIGINT end it with exit code 0 (uvicorn re-raises them)."""

    def __init__(self, app, host: str, port: int) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):
                yield

        self.server = Quiet(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                http="httptools",
                access_log=False,
                log_level="warning",
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
        )

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, setattr, self.server, "should_exit", True)
        await self.server.serve()
