"""An in-process replica app (real store, real loader, no socket) for fast HTTP-level tests.

Starlette 1.x's TestClient wants ``httpx2``; this does the same job with what is
installed: the app and its lifespan run on an event loop in a portal thread, and
a synchronous facade sends requests through ``httpx.ASGITransport``. App exceptions
are re-raised in the test, so a handler bug cannot hide behind a 500.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from serving.replica.app import create_app
from serving.replica.settings import ReplicaSettings


def app_settings(store_url: str, cache_dir: Path, **overrides: Any) -> ReplicaSettings:
    base = {
        "store": store_url,
        "model": "recommender",
        "cache_dir": cache_dir,
        "zone": "zone-t",
        "replica_id": "r-test",
        "poll_interval_s": 0.1,
    }
    return ReplicaSettings(**{**base, **overrides})


class AppClient:
    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, app: Any) -> None:
        self.portal, self.client, self.app = portal, client, app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(partial(self.client.request, method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the in-process replica never became ready"
            time.sleep(0.02)


@contextmanager
def app_client(settings: ReplicaSettings, *, ready: bool = True) -> Iterator[AppClient]:
    """The app with its lifespan running; by default waits until /readyz is 200."""
    app = create_app(settings)
    with start_blocking_portal(backend="asyncio") as portal:
        lifespan = app.router.lifespan_context(app)
        portal.call(lifespan.__aenter__)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://replica")
        try:
            facade = AppClient(portal, client, app)
            if ready:
                facade.wait_ready()
            yield facade
        finally:
            portal.call(client.aclose)
            portal.call(lifespan.__aexit__, None, None, None)
