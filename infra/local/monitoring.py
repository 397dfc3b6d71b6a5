"""A real Prometheus watching the local environment, for the drill's detection checks.

Replicas move (a zone goes down, a slot is rescheduled on another port), so the scrape
targets cannot be written once: a small watcher thread polls the control API and
rewrites the file_sd file whenever the router's or a replica's address changes.
Prometheus evaluates the same rules as the Kubernetes stacks, with the drill's short
hold times (``RuleSettings.for_drill``), and thresholds from the deployment's SLO.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from infra.local.client import ControlClient, ControlError
from monitoring.local import (
    AlertEpisode,
    PrometheusHandle,
    ScrapeTarget,
    alerts_timeline,
    start_prometheus,
    write_targets,
)
from monitoring.rules import write_rules
from monitoring.settings import RuleSettings

__all__ = ["LocalMonitoring", "TargetWatcher", "drill_rules", "regions_targets", "scrape_targets"]

Discover = Callable[[], list[ScrapeTarget]]


def scrape_targets(
    replicas: Sequence[Mapping[str, Any]], router: Mapping[str, Any]
) -> list[ScrapeTarget]:
    """The router and every replica with a port, labelled with component, role and zone."""
    targets = []
    if router.get("port"):
        targets.append(ScrapeTarget(f"127.0.0.1:{router['port']}", {"component": "router"}))
    for r in replicas:
        if r.get("port"):
            labels = {"component": "replica", "role": str(r["role"]), "zone": str(r["zone"])}
            targets.append(ScrapeTarget(f"127.0.0.1:{r['port']}", {**labels, "slot": r["id"]}))
    return sorted(targets, key=lambda t: t.address)


def control_api_targets(client: ControlClient) -> Discover:
    return lambda: scrape_targets(client.replicas(), client.router())


def regions_targets(
    regions: Sequence[tuple[str, str, ControlClient]], replicator: str | None = None
) -> Discover:
    """Every region's router and replicas, labelled ``region``/``region_role`` (what the
    stale-DR-version rule compares), plus the replicator. A region whose controller does
    not answer (it was lost whole) keeps its last list, so its targets show as down
    instead of vanishing; every region failing at once is a failed poll."""
    last: dict[str, list[ScrapeTarget]] = {}

    def discover() -> list[ScrapeTarget]:
        failed = 0
        for name, role, client in regions:
            try:
                found = scrape_targets(client.replicas(), client.router())
            except ControlError:
                failed += 1
                continue
            extra = {"region": name, "region_role": role}
            last[name] = [ScrapeTarget(t.address, {**t.labels, **extra}) for t in found]
        if failed == len(regions):
            raise ControlError("no region's controller answered")
        targets = [t for found in last.values() for t in found]
        if replicator:
            address = replicator.removeprefix("http://").rstrip("/")
            targets.append(ScrapeTarget(address, {"component": "replicator"}))
        return sorted(targets, key=lambda t: t.address)

    return discover


class TargetWatcher:
    """Keeps ``path`` listing what ``discover`` finds, polling every ``interval_s``.

    A failed poll keeps the last good list (the controller may be busy restarting a
    zone); the count of failed polls is kept for the drill to report.
    """

    def __init__(self, discover: Discover, path: Path, interval_s: float = 0.5) -> None:
        self.discover, self.path, self.interval_s = discover, path, interval_s
        self.failed_polls = 0
        self._last: list[ScrapeTarget] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="target-watcher", daemon=True)

    def poll(self) -> bool:
        """One poll; True when the file was rewritten."""
        try:
            found = self.discover()
        except ControlError:
            self.failed_polls += 1
            return False
        if found == self._last:
            return False
        write_targets(self.path, found)
        self._last = found
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def start(self) -> None:
        self.poll()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


def drill_rules(
    path: Path, slo: Mapping[str, Any], zones: Sequence[str], replication_window_s: float = 0.0
) -> Path:
    """The rule file: thresholds from the SLO, the known zones, the drill's hold times
    (and, with regions, the replicator's lag plus a margin as the replication window)."""
    settings = RuleSettings.from_slo(slo, zones=tuple(zones)).for_drill()
    if replication_window_s > 0:
        settings = replace(settings, replication_window=f"{math.ceil(replication_window_s)}s")
    return write_rules(path, settings)


class LocalMonitoring:
    """Prometheus plus its target watcher; ``with`` starts and stops both."""

    def __init__(self, workdir: Path, rules: Path | Sequence[Path], discover: Discover) -> None:
        self.workdir = workdir
        self.targets_file = workdir / "targets.json"
        self.rules = rules
        self.watcher = TargetWatcher(discover, self.targets_file)
        self.prometheus: PrometheusHandle | None = None

    @classmethod
    def for_deployment(cls, deployment_file: Path, workdir: Path) -> LocalMonitoring:
        deployment = json.loads(Path(deployment_file).read_text())
        workdir.mkdir(parents=True, exist_ok=True)
        slo = deployment.get("slo") or {}
        regions = deployment.get("regions") or []
        if not regions:
            rules = drill_rules(workdir / "rules.yaml", slo, deployment["zones"])
            client = ControlClient.from_deployment(deployment, timeout=5.0)
            return cls(workdir, rules, control_api_targets(client))
        token = deployment["control"]["token"]
        zones = [z for r in regions for z in r["zones"]]
        window = max(float(r.get("replication_window_s", 0.0)) for r in regions)
        rules = drill_rules(workdir / "rules.yaml", slo, zones, window)
        clients = [
            (r["name"], r["role"], ControlClient(r["control_url"], token, timeout=5.0))
            for r in regions
        ]
        return cls(workdir, rules, regions_targets(clients, deployment.get("replicator")))

    @property
    def url(self) -> str:
        if self.prometheus is None:
            raise RuntimeError("monitoring is not started")
        return self.prometheus.url

    def start(self) -> LocalMonitoring:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.watcher.poll()
        self.prometheus = start_prometheus(self.workdir, self.targets_file, self.rules)
        self.watcher.start()
        return self

    def stop(self) -> None:
        self.watcher.stop()
        if self.prometheus is not None:
            self.prometheus.stop()

    def __enter__(self) -> LocalMonitoring:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_quiet(self, timeout_s: float = 60.0) -> float:
        """Wait until every target is scraped and no alert is pending or firing: until
        the first scrape each known zone counts 0 replicas, which rightly alerts, so a
        fault must not start before. Returns the seconds waited; TimeoutError names
        what is still wrong."""
        if self.prometheus is None:
            raise RuntimeError("monitoring is not started")
        client = self.prometheus.client
        started = time.monotonic()
        while True:
            up = client.targets_up()
            active = client.active_alerts()
            if up and all(up.values()) and not active:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                down = [t for t, ok in up.items() if not ok] if up else ["every one (none yet)"]
                names = sorted({a["labels"].get("alertname", "?") for a in active})
                raise TimeoutError(
                    f"monitoring not quiet after {timeout_s:.0f} s: targets down: "
                    f"{', '.join(down) or 'none'}; alerts active: {', '.join(names) or 'none'}"
                )
            time.sleep(0.5)

    def timeline(self, since: float, until: float | None = None) -> list[AlertEpisode]:
        return alerts_timeline(self.url, since, until)
