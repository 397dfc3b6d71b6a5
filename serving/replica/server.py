"""One replica process (``python -m serving.replica``) (uvicorn + uvloop + httptools).

Signals: the first SIGTERM (or SIGINT) makes ``/readyz`` fail at once, stops accepting
connections and lets in-flight requests finish for up to ``--drain-grace`` seconds,
then exits 0. A second signal, or the grace running out with requests still open,
ends the process at once with exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

import uvicorn
import uvloop

from model.store import StoreError, open_store
from serving.replica.app import ReplicaState, create_app
from serving.replica.engine import configure_cpu_threads
from serving.replica.json_logs import configure_json_logging
from serving.replica.settings import parse_settings

log = logging.getLogger("recdrill.replica")
_HANDLED = (signal.SIGTERM, signal.SIGINT)


class DrainingServer(uvicorn.Server):
    """uvicorn.Server with our signal policy instead of uvicorn's (which re-raises on exit)."""

    def __init__(self, config: uvicorn.Config, state: ReplicaState, grace_s: float) -> None:
        super().__init__(config)
        self.state = state
        self.grace_s = grace_s
        self.exit_code = 0

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in _HANDLED:
            loop.add_signal_handler(sig, self.on_signal, sig)
        try:
            yield
        finally:
            for sig in _HANDLED:
                loop.remove_signal_handler(sig)

    def on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self.should_exit:
            log.warning("second %s: exiting now", name)
            self.exit_code = 1
            self.force_exit = True
            return
        log.info("%s: draining for up to %.1fs", name, self.grace_s)
        self.state.start_draining()
        self.should_exit = True
        asyncio.get_running_loop().call_later(self.grace_s, self._grace_over)

    def _grace_over(self) -> None:
        open_connections = len(self.server_state.connections)
        if open_connections:
            log.error("drain grace over with %d connection(s) still open", open_connections)
            self.exit_code = 1
        self.force_exit = True


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    try:
        open_store(settings.store)  # a malformed URL is a config error: fail now, not forever
    except StoreError as exc:
        print(f"serving.replica: {exc}", file=sys.stderr)
        return 2
    configure_json_logging(settings.log_level, zone=settings.zone, replica=settings.replica_id)
    threads = configure_cpu_threads(settings.torch_threads)
    state = ReplicaState(settings)
    config = uvicorn.Config(
        create_app(settings, state),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=None,  # DrainingServer enforces --drain-grace itself
    )
    server = DrainingServer(config, state, settings.drain_grace_s)
    log.info(
        "starting replica on %s:%d (model %s alias %s, store %s, torch threads %d)",
        settings.host,
        settings.port,
        settings.model,
        settings.alias,
        settings.store,
        threads,
    )
    uvloop.run(server.serve())
    if not server.started and server.exit_code == 0:
        server.exit_code = 1  # e.g. the port was taken
    log.info("replica exiting with code %d", server.exit_code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit without waiting for a model load that may still run in a worker thread.
    os._exit(server.exit_code)
