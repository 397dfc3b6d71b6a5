"""``python -m infra.local.front_door``: the global front door of a two-region local
environment, standing in for Route 53 failover records (or Global Accelerator).

Steering is health-checked, with Route 53's failover semantics: every ``--interval`` s each
region's router is asked for ``/readyz``; a region turns unhealthy after ``--threshold``
consecutive failed checks and healthy again after as many good ones. Traffic goes to the
first healthy region in the order given (the primary first), and when none is healthy to
the primary, as Route 53 does when every record is unhealthy. Failback is automatic.

Route 53 checks every 10 or 30 s with a default threshold of 3. Locally the interval is
scaled down (0.5 s x 3: a dead primary is noticed within about 1.5 s) so a failover fits the
local 10 s target; the threshold keeps Route 53's default, so one slow check never flips.

DNS failover moves new lookups only; the requests a client already aimed at the dead
region fail until it retries. With ``--retry-other-region on`` (the default) the front
door is that retrying client: a request whose region refuses the connection, drops it,
times out or answers 5xx is sent once to the next region (recommendations are read-only,
so a repeat is harmless). ``off`` shows what steering alone costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

from serving.router.app import read_body
from serving.schema import MAX_BODY_BYTES

log = logging.getLogger("infra.local.front_door")
JSON = [(b"content-type", b"application/json")]
REGION_HEADER = b"x-recdrill-region"
# The serving region's router answers these (the quality probe reads the served model).
PASSED_THROUGH = ("/v1/model", "/v1/upstreams")


@dataclass
class RegionTarget:
    """One region's router and its health as the checks see it."""

    name: str
    url: str
    healthy: bool = True
    failures: int = 0  # consecutive failed checks
    successes: int = 0  # consecutive good checks

    def record(self, ok: bool, threshold: int) -> bool:
        """Count one check; True when the region's health flipped."""
        if ok:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.failures, self.successes = self.failures + 1, 0
        flip = (not ok and self.healthy and self.failures >= threshold) or (
            ok and not self.healthy and self.successes >= threshold
        )
        if flip:
            self.healthy = not self.healthy
        return flip


def serves_from_replicas(readyz_body: bytes) -> bool:
    """Whether a router's ``/readyz`` answer shows a replica to send to.

    A router is ready with its popular-items fallback alone, so failing back on its 200
    sent every request of a region still restarting to the fallback (the region-loss drill
    saw 100% degraded answers for 12 s). Counts absent: the 200 is taken as it is.
    """
    try:
        body = orjson.loads(readyz_body)
    except orjson.JSONDecodeError:
        return True
    counts = (
        [v for v in body.values() if isinstance(v, dict) and "available" in v]
        if isinstance(body, dict)
        else []
    )
    return not counts or any(int(c.get("available", 0)) > 0 for c in counts)


class FrontDoorMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.serving = Gauge(
            "recdrill_front_door_serving_region", "1 for the region traffic goes to",
            ["region"], registry=r,
        )  # fmt: skip
        self.healthy = Gauge(
            "recdrill_front_door_region_healthy", "1 while the region's health check passes",
            ["region"], registry=r,
        )  # fmt: skip
        self.failovers = Counter(
            "recdrill_front_door_failovers", "Changes of the serving region",
            ["from_region", "to_region"], registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "recdrill_front_door_requests", "Requests by the region that answered, and outcome",
            ["region", "outcome"], registry=r,
        )  # fmt: skip
        self.other_region = Counter(
            "recdrill_front_door_other_region_tries",
            "Requests sent on to the next region after their region failed them",
            registry=r,
        )


class FrontDoor:
    def __init__(
        self,
        regions: list[RegionTarget],
        *,
        interval_s: float = 0.5,
        threshold: int = 3,
        check_timeout_s: float = 0.4,
        try_timeout_s: float = 1.5,
        retry_other_region: bool = True,
    ) -> None:
        if len(regions) < 2 or len({r.name for r in regions}) != len(regions):
            raise ValueError("the front door needs at least two regions with distinct names")
        self.regions = regions
        self.interval_s, self.threshold = interval_s, threshold
        self.check_timeout_s, self.try_timeout_s = check_timeout_s, try_timeout_s
        self.retry_other_region = retry_other_region
        self.metrics = FrontDoorMetrics()
        self.serving = regions[0]
        self.failovers = 0
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task | None = None
        self._publish()

    # ---- health and steering ------------------------------------------------------------
    def choose(self) -> RegionTarget:
        """The first healthy region; the primary when none is (Route 53's fail-open)."""
        return next((r for r in self.regions if r.healthy), self.regions[0])

    def _publish(self) -> None:
        for region in self.regions:
            self.metrics.serving.labels(region.name).set(1.0 if region is self.serving else 0.0)
            self.metrics.healthy.labels(region.name).set(1.0 if region.healthy else 0.0)

    def apply_checks(self, results: list[bool]) -> None:
        for region, ok in zip(self.regions, results, strict=True):
            if region.record(ok, self.threshold):
                log.warning("region %s is now %s", region.name, "healthy" if ok else "unhealthy")
        chosen = self.choose()
        if chosen is not self.serving:
            log.warning("failing over from %s to %s", self.serving.name, chosen.name)
            self.metrics.failovers.labels(self.serving.name, chosen.name).inc()
            self.failovers += 1
            self.serving = chosen
        self._publish()

    async def _check(self, region: RegionTarget) -> bool:
        assert self.session is not None
        try:
            async with self.session.get(
                f"{region.url}/readyz", timeout=aiohttp.ClientTimeout(total=self.check_timeout_s)
            ) as resp:
                body = await resp.read()
                return resp.status == 200 and serves_from_replicas(body)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def check_forever(self) -> None:
        while True:
            results = await asyncio.gather(*(self._check(r) for r in self.regions))
            self.apply_checks(list(results))
            await asyncio.sleep(self.interval_s)

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=4),
            skip_auto_headers=("User-Agent",),
        )
        self.task = asyncio.create_task(self.check_forever())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.close()

    # ---- requests -----------------------------------------------------------------------
    async def forward(
        self, body: bytes | None, content_type: str | None, path: str = "/v1/recommend"
    ) -> tuple[int, bytes, str]:
        """(status, body, region that answered); the next region after a failed try.
        A ``body`` is POSTed to ``path``; without one, ``path`` is a GET."""
        assert self.session is not None
        first = self.serving
        order = [first] + (
            [r for r in self.regions if r is not first] if self.retry_other_region else []
        )
        problem = "no region answered"
        for attempt, region in enumerate(order):
            if attempt:
                self.metrics.other_region.inc()
            try:
                async with self.session.request(
                    "GET" if body is None else "POST",
                    f"{region.url}{path}",
                    data=body,
                    headers={"Content-Type": content_type or "application/json"},
                    timeout=aiohttp.ClientTimeout(total=self.try_timeout_s),
                ) as resp:
                    payload = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = f"region {region.name}: {type(exc).__name__}"
                continue
            if status >= 500 and attempt + 1 < len(order):
                problem = f"region {region.name} answered {status}"
                continue
            self.metrics.requests.labels(region.name, str(status)).inc()
            return status, payload, region.name
        self.metrics.requests.labels("none", "unanswered").inc()
        detail = orjson.dumps({"error": "no_region", "detail": problem})
        return 503, detail, ""

    def view(self) -> dict[str, Any]:
        return {
            "serving": self.serving.name,
            "failovers": self.failovers,
            "interval_s": self.interval_s,
            "threshold": self.threshold,
            "retry_other_region": self.retry_other_region,
            "regions": [
                {"name": r.name, "url": r.url, "healthy": r.healthy, "failures": r.failures}
                for r in self.regions
            ],
        }


def build_app(door: FrontDoor):
    """A raw ASGI app, as the router's: the front door is on every request's path."""

    async def handle(scope, receive) -> tuple[int, bytes, list]:
        method, path = scope["method"], scope["path"]
        if path == "/v1/recommend":
            if method != "POST":
                return 405, b'{"error":"method_not_allowed","detail":"use POST"}', JSON
            body = await read_body(receive)
            if body is None:
                detail = f"body exceeds {MAX_BODY_BYTES} bytes"
                return 413, orjson.dumps({"error": "body_too_large", "detail": detail}), JSON
            content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            status, payload, region = await door.forward(body, content_type or None)
            return status, payload, [*JSON, (REGION_HEADER, region.encode())]
        if method != "GET":
            return 405, b'{"error":"method_not_allowed","detail":"use GET"}', JSON
        if path == "/healthz":
            return 200, b'{"status":"ok"}', JSON
        if path == "/readyz":
            ok = any(r.healthy for r in door.regions)
            return (
                200 if ok else 503,
                orjson.dumps({"ready": ok, "serving": door.serving.name}),
                JSON,
            )
        if path == "/metrics":
            body = generate_latest(door.metrics.registry)
            return 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())]
        if path == "/v1/regions":
            return 200, orjson.dumps(door.view()), JSON
        if path in PASSED_THROUGH:
            status, payload, region = await door.forward(None, None, path)
            return status, payload, [*JSON, (REGION_HEADER, region.encode())]
        return 404, orjson.dumps({"error": "not_found", "detail": f"no route {path}"}), JSON

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await door.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await door.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        status, body, headers = await handle(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _region(text: str) -> RegionTarget:
    name, sep, url = text.partition("=")
    if not sep or not name or not url.startswith("http://127.0.0.1:"):
        raise argparse.ArgumentTypeError(
            f"--region {text!r}: use NAME=http://127.0.0.1:PORT (a router on loopback)"
        )
    return RegionTarget(name, url.rstrip("/"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local.front_door", description=__doc__)
    parser.add_argument("--region", type=_region, action="append", required=True,
                        help="NAME=URL of a region's router, primary first (repeat)")  # fmt: skip
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between checks")
    parser.add_argument("--threshold", type=int, default=3, help="checks to flip health")
    parser.add_argument("--check-timeout", type=float, default=0.4)
    parser.add_argument("--try-timeout", type=float, default=1.5)
    parser.add_argument("--retry-other-region", choices=("on", "off"), default="on")
    args = parser.parse_args(argv)
    if args.interval <= 0 or args.check_timeout <= 0 or args.try_timeout <= 0:
        parser.error("--interval, --check-timeout and --try-timeout must be positive")
    if args.threshold < 1:
        parser.error(f"--threshold must be at least 1, got {args.threshold}")
    return args


def main(argv: list[str] | None = None) -> int:
    import uvloop

    from serving.router.app import RouterServer

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        door = FrontDoor(
            args.region,
            interval_s=args.interval,
            threshold=args.threshold,
            check_timeout_s=args.check_timeout,
            try_timeout_s=args.try_timeout,
            retry_other_region=args.retry_other_region == "on",
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvloop.run(RouterServer(build_app(door), "127.0.0.1", args.port).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
