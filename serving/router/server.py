"""``python -m serving.router``: parse the command line, build the router, serve until a signal."""

from __future__ import annotations

import logging

import uvloop

from serving.router.app import RouterServer, build_app
from serving.router.cli import build_router, parse_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    router = build_router(args)
    uvloop.run(RouterServer(build_app(router), args.host, args.port).serve())
    return 0
