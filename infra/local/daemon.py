"""The controller daemon's main: control API and reconciler in one event loop.

``up`` starts this (``python -m infra.local serve --workdir D``) in its own session; SIGTERM
or SIGINT stops every child cleanly and then the daemon itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from infra.local import procs
from infra.local.config import DEPLOYMENT_FILE, PID_FILE, ControllerConfig, write_private
from infra.local.control_api import build_app
from infra.local.controller import Controller
from infra.local.isolation import IsolationError, open_isolation

log = logging.getLogger("infra.local.daemon")


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: the daemon owns SIGTERM (it must reap children)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _main(controller: Controller, deployment: dict) -> None:
    config = controller.config
    app = build_app(controller, deployment)
    server = _Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=config.control_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )

    def stop() -> None:
        controller.stopping = True
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    serving = asyncio.create_task(server.serve())
    try:
        await controller.run_loops()
    finally:
        stop()
        await serving


def serve(workdir: Path) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = ControllerConfig.load(workdir)
    if not config.control_port:
        config.control_port = procs.free_port()
    if not config.router_port:
        config.router_port = procs.free_port()
    config.save()
    deployment = config.deployment()
    write_private(workdir / DEPLOYMENT_FILE, deployment)
    (workdir / PID_FILE).write_text(str(os.getpid()))
    controller = Controller(config, open_isolation(workdir))
    if controller.isolation.isolated:
        try:  # the controller is control-plane work, as the warm pool and the gate are
            controller.isolation.place("control", os.getpid())
        except IsolationError as exc:
            log.warning("controller stays outside the control group: %s", exc)
    try:
        asyncio.run(_main(controller, deployment))
    finally:
        controller.shutdown()
        with contextlib.suppress(FileNotFoundError):
            (workdir / PID_FILE).unlink()
    return 0
