"""A real Prometheus for the local environment: one process on loopback that scrapes the
targets listed in a file_sd file (rewritten as replicas come and go) and evaluates the
same rules as the Kubernetes stacks.

    rules = write_rules(workdir / "rules.yaml", RuleSettings.from_slo(slo, zones=zones))
    write_targets(workdir / "targets.json", [ScrapeTarget("127.0.0.1:8001", {"zone": "a"})])
    with start_prometheus(workdir, workdir / "targets.json", rules) as prom:
        ...  # faults
        episodes = alerts_timeline(prom.url, since=t0)

Without ``prometheus`` on the PATH, :func:`prometheus_available` is False and
:func:`start_prometheus` raises :class:`PrometheusMissing`: callers then report that
detection was not checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import yaml

from monitoring.alerts_client import (
    AlertEpisode,
    PrometheusClient,
    alerts_timeline,
    first_fired,
)

__all__ = [
    "AlertEpisode",
    "PrometheusClient",
    "PrometheusError",
    "PrometheusHandle",
    "PrometheusMissing",
    "ScrapeTarget",
    "alerts_timeline",
    "first_fired",
    "prometheus_available",
    "start_prometheus",
    "write_targets",
]

INSTALL_HINT = "install Debian's prometheus package: apt-get install -y prometheus"
_PORT_ATTEMPTS = 3
DATA_DIR = "data"  # under the workdir; emptied at every start (see start_prometheus)


class PrometheusError(RuntimeError):
    """Prometheus did not start or stop cleanly (its log tail is in the message)."""


class PrometheusMissing(PrometheusError):
    """``prometheus`` is not on the PATH."""


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``/metrics`` endpoint and the labels its series get (zone, role, component).
    Labels the endpoint exports itself win over these (``honor_labels``)."""

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)


def prometheus_available() -> bool:
    return shutil.which("prometheus") is not None


def write_targets(path: str | Path, targets: Sequence[ScrapeTarget]) -> Path:
    """Writes a file_sd file atomically (Prometheus watches it and must never read half
    of one). Labels are grouped per target so each keeps its own zone and role."""
    path = Path(path)
    body = [{"targets": [t.address], "labels": dict(t.labels)} for t in targets]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, path)
    return path


@dataclass
class PrometheusHandle:
    """A running Prometheus; :meth:`stop` (or leaving the ``with`` block) ends it."""

    process: subprocess.Popen[bytes]
    url: str
    workdir: Path
    log_path: Path

    @property
    def client(self) -> PrometheusClient:
        return PrometheusClient(self.url)

    def reload(self) -> None:
        """Re-reads the config and the rule files (SIGHUP), e.g. after rewriting rules."""
        self.process.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> PrometheusHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_prometheus(
    workdir: str | Path,
    targets_file: str | Path,
    rules: str | Path | Sequence[str | Path],
    *,
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    port: int | None = None,
    ready_timeout: float = 30.0,
) -> PrometheusHandle:
    """Starts Prometheus on 127.0.0.1 and waits until it answers ``/-/ready``.

    ``targets_file`` is a file_sd JSON file (see :func:`write_targets`); it may be
    empty or absent at start. ``rules`` are rule files such as
    :func:`monitoring.rules.write_rules` writes. Data and log live under ``workdir``.

    The data directory starts empty every time. Prometheus writes no staleness markers
    when it stops, so a restart on the old data replays the last environment's final
    samples and its queries see them live for the 5 m look-back: a drill run within 5
    minutes of the previous one found the zone it had just taken down still "healthy"
    for 18 s, on the previous drill's router series, and its capacity alert fired late
    or never. What a drill keeps of its alerts is written beside its journals.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise PrometheusMissing(f"prometheus is not on the PATH ({INSTALL_HINT})")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / DATA_DIR, ignore_errors=True)
    targets_file = Path(targets_file).resolve()
    if not targets_file.exists():
        write_targets(targets_file, [])
    rule_files = [rules] if isinstance(rules, str | Path) else list(rules)
    config = _config(targets_file, rule_files, scrape_interval, evaluation_interval)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    last_error: PrometheusError | None = None
    for _ in range(_PORT_ATTEMPTS if port is None else 1):
        try:
            return _launch(binary, workdir, config_path, port or _free_port(), ready_timeout)
        except PrometheusError as exc:  # a port taken between probe and bind: try another
            last_error = exc
            if "address already in use" not in str(exc):
                raise
    assert last_error is not None
    raise last_error


def _config(targets_file: Path, rule_files: list[str | Path], scrape: str, evaluation: str) -> dict:
    return {
        "global": {
            "scrape_interval": scrape,
            "scrape_timeout": scrape,
            "evaluation_interval": evaluation,
        },
        "rule_files": [str(Path(r).resolve()) for r in rule_files],
        "scrape_configs": [
            {
                "job_name": "recdrill",
                # The router's series carry the zone of each upstream: a target's own zone
                # label must not overwrite it (Prometheus would rename it exported_zone).
                "honor_labels": True,
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": "5s"}],
            }
        ],
    }


def _launch(
    binary: str, workdir: Path, config_path: Path, port: int, ready_timeout: float
) -> PrometheusHandle:
    log_path = workdir / "prometheus.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / DATA_DIR}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    handle = PrometheusHandle(process, url, workdir, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusError(
                f"prometheus exited with code {process.returncode}: {_tail(log_path)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return handle
        time.sleep(0.1)
    handle.stop()
    raise PrometheusError(f"prometheus not ready after {ready_timeout:.0f}s: {_tail(log_path)}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
