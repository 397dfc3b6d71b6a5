"""The control API: the local stand-in for the Kubernetes API that faults and the router use.

Every route but ``/healthz`` needs ``Authorization: Bearer <token>``; bad selectors,
signals and zones answer 400 with ``{"error", "detail"}``.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infra.local.client import RESTART_ROUTE, SIGNAL_ROUTE
from infra.local.controller import Controller
from infra.local.selectors import SelectorError


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, error: str, detail: str) -> Response:
    return _json({"error": error, "detail": detail}, status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SelectorError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SelectorError("body must be a JSON object")
    return data


def _field(body: dict[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
        raise SelectorError(f"{name!r} has the wrong type: {type(value).__name__}")
    return value


def build_app(controller: Controller, deployment: dict[str, Any]):
    token = controller.config.token.encode()
    known = {"selector", "count", "percent", "signal", "rolling"}

    async def healthz(_: Request) -> Response:
        return _json({"status": "ok"})

    async def replicas(request: Request) -> Response:
        return _json(controller.replicas_view(request.query_params.get("selector")))

    async def signal(request: Request) -> Response:
        body = await _body(request)
        unknown = sorted(set(body) - known)
        if unknown:
            raise SelectorError(f"unknown fields {unknown}")
        signal = _field(body, "signal", (str,)) or "KILL"
        affected = controller.signal_replicas(
            _field(body, "selector", (str,)),
            signal.upper(),
            _field(body, "count", (int,)),
            _field(body, "percent", (int, float)),
        )
        return _json({"affected": affected})

    async def restart(request: Request) -> Response:
        body = await _body(request)
        unknown = sorted(set(body) - {"selector", "rolling"})
        if unknown:
            raise SelectorError(f"unknown fields {unknown}")
        if body.get("rolling", True) is not True:
            raise SelectorError(
                "only rolling restarts exist: replicas are replaced one at a time, each "
                "waited for; leave 'rolling' out or set it to true"
            )
        ids = await controller.rolling_restart(_field(body, "selector", (str,)))
        return _json({"restarted": ids})

    async def zones(_: Request) -> Response:
        return _json({"zones": controller.zones})

    async def zone_down(request: Request) -> Response:
        zone = request.path_params["zone"]
        return _json({"zone": zone, "state": "down", "killed": controller.zone_down(zone)})

    async def zone_up(request: Request) -> Response:
        zone = request.path_params["zone"]
        return _json({"zone": zone, "state": "up", "moving_home": await controller.zone_up(zone)})

    async def zone_hang(request: Request) -> Response:
        zone = request.path_params["zone"]
        return _json({"zone": zone, "state": "hung", "frozen": controller.zone_hang(zone)})

    async def isolation_view(_: Request) -> Response:
        return _json(controller.isolation_view())

    async def isolation_join(request: Request) -> Response:
        body = await _body(request)
        unknown = sorted(set(body) - {"group", "pid"})
        if unknown:
            raise SelectorError(f"unknown fields {unknown}")
        return _json(controller.join(_field(body, "group", (str,)), _field(body, "pid", (int,))))

    async def deployment_view(_: Request) -> Response:
        return _json(deployment)

    async def router_view(_: Request) -> Response:
        return _json(controller.router_view())

    routes = [
        Route("/healthz", healthz),
        Route("/v1/replicas", replicas),
        Route(SIGNAL_ROUTE, signal, methods=["POST"]),
        Route(RESTART_ROUTE, restart, methods=["POST"]),
        Route("/v1/zones", zones),
        Route("/v1/zones/{zone}/down", zone_down, methods=["POST"]),
        Route("/v1/zones/{zone}/up", zone_up, methods=["POST"]),
        Route("/v1/zones/{zone}/hang", zone_hang, methods=["POST"]),
        Route("/v1/isolation", isolation_view),
        Route("/v1/isolation/join", isolation_join, methods=["POST"]),
        Route("/v1/deployment", deployment_view),
        Route("/v1/router", router_view),
    ]

    async def bad_request(_: Request, exc: Exception) -> Response:
        return _error(400, "bad_request", str(exc))

    app = Starlette(routes=routes, exception_handlers={SelectorError: bad_request})

    return _BearerGuard(app, token)


class _BearerGuard:
    """ASGI wrapper: 401 for every HTTP route but /healthz without the right bearer token."""

    def __init__(self, app, token: bytes) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] != "/healthz":
            header = dict(scope["headers"]).get(b"authorization", b"")
            scheme, _, given = header.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given, self.token):
                response = _error(401, "unauthorized", "missing or wrong bearer token")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
