"""Replica settings: the shared CLI contract plus tuning knobs, read once at start-up.

The flags every launcher uses (local controller, Kubernetes manifests) are fixed by
DESIGN.md; the tuning flags are optional and also readable from ``RECDRILL_*`` env
vars so a deployment can change them without touching the command line.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ADMIN_TOKEN_ENV = "RECDRILL_ADMIN_TOKEN"
# Test-only: every /v1/recommend sleeps this long first, so tests can hold requests in flight.
TEST_DELAY_ENV = "RECDRILL_TEST_REQUEST_DELAY_S"


@dataclass(frozen=True)
class ReplicaSettings:
    store: str
    model: str
    cache_dir: Path
    alias: str = "stable"
    host: str = "127.0.0.1"
    port: int = 8080
    zone: str = "local"
    replica_id: str = ""
    poll_interval_s: float = 5.0
    drain_grace_s: float = 10.0
    admin_token: str | None = None
    max_batch: int = 64
    max_wait_s: float = 0.002
    batch_concurrency: int = 1
    torch_threads: int | None = None
    exclude_seen: bool = True
    device: str = "auto"
    search: str = "approximate"
    max_queue: int = 256
    max_queue_s: float = 0.08
    max_in_flight: int | None = None  # None: derived from the batch and queue bounds
    test_delay_s: float = 0.0
    log_level: str = "info"

    def argv(self, python: str = "python") -> list[str]:
        """The command that starts a replica with these settings: the one place every
        launcher (local controller, Kubernetes pod spec) builds it.

        Flags left at their defaults are omitted, so the ``RECDRILL_*`` environment
        variables can still tune them. ``admin_token`` and ``test_delay_s`` travel in
        the environment, never on a command line that ``ps`` shows.
        """
        args = ["--store", self.store, "--model", self.model, "--cache-dir", str(self.cache_dir)]
        optional: list[tuple[str, object, object]] = [
            ("--alias", self.alias, "stable"),
            ("--host", self.host, "127.0.0.1"),
            ("--port", self.port, 8080),
            ("--zone", self.zone, "local"),
            ("--replica-id", self.replica_id, ""),
            ("--poll-interval", self.poll_interval_s, 5.0),
            ("--drain-grace", self.drain_grace_s, 10.0),
            ("--max-batch", self.max_batch, 64),
            ("--max-wait-ms", self.max_wait_s * 1000, 2.0),
            ("--batch-concurrency", self.batch_concurrency, 1),
            ("--torch-threads", self.torch_threads, None),
            ("--device", self.device, "auto"),
            ("--search", self.search, "approximate"),
            ("--max-queue", self.max_queue, 256),
            ("--max-queue-ms", self.max_queue_s * 1000, 80.0),
            ("--max-in-flight", self.max_in_flight, None),
            ("--log-level", self.log_level, "info"),
        ]
        for flag, value, default in optional:
            if value != default:
                args += [flag, str(value)]
        if not self.exclude_seen:
            args.append("--no-exclude-seen")
        return [python, "-m", "serving.replica", *args]

    @property
    def in_flight_cap(self) -> int:
        """The ``/v1/recommend`` requests admitted at once (see ``admission.py``).

        By default what the batcher can hold (its queue plus the batches computing): a
        request past that would be refused by the queue bound anyway, after its parse.
        """
        if self.max_in_flight is not None:
            return self.max_in_flight
        return self.max_queue + self.max_batch * self.batch_concurrency


def _positive(kind: type, minimum: float) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    return parse


def _env(name: str, default: str) -> str:
    return os.environ.get(f"RECDRILL_{name}", default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m serving.replica",
        description="Serve one model from the recdrill model store over HTTP.",
    )
    p.add_argument("--store", required=True, help="model store URL (file:///… or s3://…)")
    p.add_argument("--model", required=True, help="model name in the store")
    p.add_argument("--alias", default="stable", help="alias to serve and follow (default stable)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_positive(int, 0), default=8080)
    p.add_argument("--zone", default="local", help="zone label, reported in answers and logs")
    p.add_argument("--cache-dir", required=True, type=Path, help="local verified-copy cache")
    p.add_argument("--replica-id", default="", help="default: <hostname>-<port>")
    p.add_argument("--poll-interval", type=_positive(float, 0.05), default=5.0, metavar="S")
    p.add_argument("--drain-grace", type=_positive(float, 0), default=10.0, metavar="S")
    # string defaults go through `type`, so a bad RECDRILL_* value gets a clean CLI error
    p.add_argument("--max-batch", type=_positive(int, 1), default=_env("MAX_BATCH", "64"))
    p.add_argument("--max-wait-ms", type=_positive(float, 0), default=_env("MAX_WAIT_MS", "2"))
    p.add_argument(
        "--batch-concurrency",
        type=_positive(int, 1),
        default=_env("BATCH_CONCURRENCY", "1"),
        help="batches computed at once (each in its own thread)",
    )
    p.add_argument(
        "--torch-threads",
        type=_positive(int, 1),
        default=os.environ.get("RECDRILL_TORCH_THREADS"),
        help="torch intra-op threads (default: cores - 1, at least 1)",
    )
    p.add_argument(
        "--exclude-seen",
        action=argparse.BooleanOptionalAction,
        default=_env("EXCLUDE_SEEN", "1") not in ("0", "false", "no"),
        help="leave the user's already-seen items out of answers (default on)",
    )
    p.add_argument("--device", default=_env("DEVICE", "auto"), help="auto, cpu or cuda")
    p.add_argument(
        "--search",
        choices=("approximate", "exact"),
        default=_env("SEARCH", "approximate"),
        help="approximate: the version's index when it has one (else exact); exact: never",
    )
    p.add_argument(
        "--max-queue",
        type=_positive(int, 1),
        default=_env("MAX_QUEUE", "256"),
        help="requests queued for a batch before new ones get 429",
    )
    p.add_argument(
        "--max-queue-ms",
        type=_positive(float, 0.001),
        default=_env("MAX_QUEUE_MS", "80"),
        help="a request queued longer than this gets 429 instead of an answer",
    )
    p.add_argument(
        "--max-in-flight",
        type=_positive(int, 1),
        default=os.environ.get("RECDRILL_MAX_IN_FLIGHT"),
        help="/v1/recommend requests in flight before new ones get 429 unread "
        "(default: max-queue + max-batch x batch-concurrency)",
    )
    p.add_argument("--log-level", default=_env("LOG_LEVEL", "info"))
    return p


def parse_settings(argv: list[str] | None = None) -> ReplicaSettings:
    args = build_parser().parse_args(argv)
    try:
        delay = float(os.environ.get(TEST_DELAY_ENV, "0") or 0)
    except ValueError:
        build_parser().error(f"{TEST_DELAY_ENV} must be a number of seconds")
    return ReplicaSettings(
        store=args.store,
        model=args.model,
        cache_dir=args.cache_dir,
        alias=args.alias,
        host=args.host,
        port=args.port,
        zone=args.zone,
        replica_id=args.replica_id or f"{socket.gethostname()}-{args.port}",
        poll_interval_s=args.poll_interval,
        drain_grace_s=args.drain_grace,
        admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,
        max_batch=args.max_batch,
        max_wait_s=args.max_wait_ms / 1000,
        batch_concurrency=args.batch_concurrency,
        torch_threads=args.torch_threads,
        exclude_seen=args.exclude_seen,
        device=args.device,
        search=args.search,
        max_queue=args.max_queue,
        max_queue_s=args.max_queue_ms / 1000,
        max_in_flight=args.max_in_flight,
        test_delay_s=delay,
        log_level=args.log_level,
    )
