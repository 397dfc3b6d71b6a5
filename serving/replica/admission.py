"""The in-flight cap: a bound on ``/v1/recommend`` requests in front of request parsing.

The micro-batcher sheds what it has queued too long or cannot queue, but it only sees a
request after Starlette has routed it and the app has read and parsed its body. Under
several times its capacity a replica's event loop spends itself on that work for
requests that will be shed anyway, falls behind reading its sockets, and clients time
out without an answer. This raw ASGI middleware answers ``429`` + ``Retry-After`` the
moment a request would exceed the cap, before the body is read, so a refusal costs
almost nothing and the router can try another replica at once.

It is not uvicorn's ``--limit-concurrency``: that answers ``503``, which the router
counts as a failed upstream (ejection), while a ``429`` means "busy, try another".
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

SHED_REASON = "in_flight"  # the shed metric's label for refusals at the cap
RETRY_AFTER_S = "1"  # whole seconds (RFC 9110); the router retries elsewhere at once anyway


class InFlightLimit:
    """Answer 429 to a request for ``path`` while ``cap`` such requests are in flight."""

    def __init__(
        self,
        app: ASGIApp,
        cap: int,
        path: str = "/v1/recommend",
        on_shed: Callable[[str], None] | None = None,
    ) -> None:
        if cap < 1:
            raise ValueError(f"the in-flight cap must be >= 1, got {cap}")
        self.app, self.cap, self.path, self._on_shed = app, cap, path, on_shed
        self.in_flight = 0
        self._refusal = orjson.dumps(
            {
                "error": "overloaded",
                "detail": f"{cap} requests already in flight",
                "reason": SHED_REASON,
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.cap:
            await self._refuse(send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, send: Send) -> None:
        if self._on_shed is not None:
            self._on_shed(SHED_REASON)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._refusal)).encode()),
            (b"retry-after", RETRY_AFTER_S.encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": self._refusal})
