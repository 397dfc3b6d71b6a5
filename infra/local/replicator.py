"""``python -m infra.local.replicator``: the local stand-in for S3 cross-region replication.

One process copies the primary region's ``file://`` store into the DR region's, late and
out of order (:mod:`infra.local.replication`). On loopback it serves:

- ``GET /metrics`` (Prometheus, no token, like every other scrape target here): pending
  objects, copies, errors, whether the source is readable, the configured lag, the lag of
  each promoted version and how long the DR alias has been behind the primary's;
- ``GET /v1/state`` and ``PUT /v1/lag`` (``Authorization: Bearer <token>``, the
  environment's control token from ``RECDRILL_CONTROL_TOKEN``): the state as JSON, and
  ``{"lag_s": …, "spread_s": …}`` to slow replication down or let it catch up at run time.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from infra.local.config import TOKEN_ENV
from infra.local.replication import Replicator

log = logging.getLogger("infra.local.replicator")
LAG_ROUTE = "/v1/lag"
STATE_ROUTE = "/v1/state"


class ReplicationCollector(Collector):
    """Reads the replicator at scrape time, so a version's series is never stale."""

    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator

    def collect(self) -> Iterator[Any]:
        r, state = self.replicator, self.replicator.state()
        yield GaugeMetricFamily(
            "recdrill_replication_pending_objects",
            "Objects written in the primary store and not yet in the DR store",
            value=state["pending"],
        )
        yield CounterMetricFamily(
            "recdrill_replication_copied_objects", "Objects copied whole", value=r.copies
        )
        yield CounterMetricFamily(
            "recdrill_replication_errors", "Failed reads or writes", value=r.errors
        )
        yield GaugeMetricFamily(
            "recdrill_replication_source_up", "1 while the primary store is readable",
            value=1.0 if r.source_up else 0.0,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "recdrill_replication_lag_setting_seconds", "The configured lag", value=r.lag_s
        )
        lag = GaugeMetricFamily(
            "recdrill_replication_version_lag_seconds",
            "Promotion to whole in the DR store, per promoted version (still growing while "
            "replicated=false)",
            labels=["model", "version", "replicated"],
        )
        for promo in state["promotions"]:
            done = "true" if promo["replicated"] else "false"
            lag.add_metric([promo["model"], promo["version"], done], promo["lag_s"])
        yield lag
        behind = GaugeMetricFamily(
            "recdrill_replication_behind_seconds",
            "How long the DR store's stable alias has lagged the primary's newest promotion",
            labels=["model"],
        )
        for model, seconds in state["behind_s"].items():
            behind.add_metric([model], seconds)
        yield behind


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, error: str, detail: str) -> web.Response:
    return _json({"error": error, "detail": detail}, status)


def build_app(replicator: Replicator, token: str) -> web.Application:
    registry = CollectorRegistry()
    registry.register(ReplicationCollector(replicator))
    secret = token.encode()

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
        return hmac.compare_digest(given, secret)

    async def healthz(_: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def state(request: web.Request) -> web.Response:
        if not authorised(request):
            return _error(401, "unauthorized", "a valid bearer token is required")
        return _json(replicator.state())

    async def set_lag(request: web.Request) -> web.Response:
        if not authorised(request):
            return _error(401, "unauthorized", "a valid bearer token is required")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _error(400, "bad_json", f"body is not valid JSON: {exc}")
        if not isinstance(body, dict) or "lag_s" not in body or set(body) - {"lag_s", "spread_s"}:
            return _error(400, "bad_request", 'body must be {"lag_s": s, "spread_s": s?}')
        try:
            replicator.set_lag(body["lag_s"], body.get("spread_s"))
        except ValueError as exc:
            return _error(400, "bad_request", str(exc))
        log.info("lag set to %.3f s (+ up to %.3f s)", replicator.lag_s, replicator.spread_s)
        return _json({"lag_s": replicator.lag_s, "spread_s": replicator.spread_s})

    app = web.Application(client_max_size=4096)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get(STATE_ROUTE, state)
    app.router.add_put(LAG_ROUTE, set_lag)
    return app


async def replicate_forever(replicator: Replicator, interval_s: float) -> None:
    """Step until cancelled; an unexpected error is logged, counted and never fatal."""
    while True:
        try:
            await asyncio.to_thread(replicator.step)
        except asyncio.CancelledError:
            raise
        except Exception:
            replicator.errors += 1
            log.exception("replication step failed")
        await asyncio.sleep(interval_s)


async def serve(replicator: Replicator, token: str, port: int, interval_s: float) -> None:
    await asyncio.to_thread(replicator.scan, immediate=True)
    runner = web.AppRunner(build_app(replicator, token), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("replicating %s -> %s on port %d", replicator.source, replicator.target, port)
    task = asyncio.create_task(replicate_forever(replicator, interval_s))
    try:
        await stop.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()


def _store_dir(url: str, flag: str) -> Path:
    if not url.startswith("file://"):
        raise ValueError(f"{flag} {url!r} must be a file:// store (the replicator copies files)")
    return Path(url.removeprefix("file://"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.replicator", description=__doc__)
    parser.add_argument("--source", required=True, help="the primary store, file:///…")
    parser.add_argument("--target", required=True, help="the DR store, file:///…")
    parser.add_argument("--lag", type=float, default=1.0, help="seconds before an object is due")
    parser.add_argument("--spread", type=float, default=1.0, help="plus up to this, at random")
    parser.add_argument("--seed", type=int, help="seed of the shuffled order (default: random)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between scans")
    parser.add_argument("--port", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    token = os.environ.get(TOKEN_ENV, "")
    try:
        if not token:
            raise ValueError(f"{TOKEN_ENV} must hold the environment's control token")
        if args.interval <= 0:
            raise ValueError(f"--interval must be positive, got {args.interval}")
        source, target = _store_dir(args.source, "--source"), _store_dir(args.target, "--target")
        if source.resolve() == target.resolve():
            raise ValueError("--source and --target must be different directories")
        replicator = Replicator(
            source, target, lag_s=args.lag, spread_s=args.spread, seed=args.seed
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(replicator, token, args.port, args.interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
