"""The router's view of its replicas: priority pools, active health checks, passive ejection.

Selection: the active pool takes all traffic while its healthy share is at least
``standby_threshold``; below that, every available replica, active or standby, takes an
equal share (``p_active = healthy active / (healthy active + healthy standby)``). Not
Envoy's priority spill-over (``p_active = healthy_share / threshold``): that is made for
failing over to a farther locality, and with a zone of 3 × 2 gone it sent 93% of the
traffic to the 4 actives left and 7% to the standby, so at the design peak the actives ran
at 98% of their capacity while the standby idled at a third of its own. Equal shares put
every replica at the same utilisation, the most load the survivors can carry.
Within a pool, power-of-two-choices on in-flight requests, preferring a zone not tried
yet for this request.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

ROLES = ("active", "standby")


@dataclass(frozen=True)
class UpstreamSpec:
    """What discovery knows about one replica."""

    id: str
    url: str
    role: str = "active"
    zone: str | None = None
    ready: bool | None = None


@dataclass
class Upstream:
    spec: UpstreamSpec
    healthy: bool = False
    ejected_until: float = 0.0
    ejections_in_row: int = 0
    failures_in_row: int = 0
    probe_failures: int = 0
    inflight: int = 0
    tries: int = 0
    failures: int = 0
    ejections: int = 0
    last_change: float = field(default_factory=time.monotonic)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def url(self) -> str:
        return self.spec.url

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def zone(self) -> str | None:
        return self.spec.zone

    def ejected(self, now: float) -> bool:
        return now < self.ejected_until

    def available(self, now: float) -> bool:
        return self.healthy and not self.ejected(now)

    def state(self, now: float) -> str:
        if self.ejected(now):
            return "ejected"
        return "healthy" if self.healthy else "unhealthy"

    def describe(self, now: float) -> dict:
        return {
            "id": self.id,
            "url": self.url,
            "role": self.role,
            "zone": self.zone,
            "state": self.state(now),
            "inflight": self.inflight,
            "tries": self.tries,
            "failures": self.failures,
            "ejections": self.ejections,
        }


@dataclass
class PoolSettings:
    standby_threshold: float = 0.72
    # The active replicas the deployment asks for. A lost replica leaves discovery (a
    # deleted pod leaves its EndpointSlice; the local controller lists only live
    # processes), so a share of the members still listed reads 4 of 4 healthy while a
    # zone of 3 x 2 is gone and the standby is never used. 0: the listed count.
    expected_active: int = 0
    unhealthy_after: int = 2
    eject_base_s: float = 1.0
    eject_max_s: float = 10.0
    ejection: bool = True
    eject_after: int = 2
    max_ejected_share: float = 0.5
    probe_interval_s: float = 0.2
    probe_timeout_s: float = 0.25


class Pool:
    def __init__(
        self,
        settings: PoolSettings | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or PoolSettings()
        self.rng = rng or random.Random()
        self.clock = clock
        self.upstreams: dict[str, Upstream] = {}
        self.on_eject: Callable[[Upstream, str], None] = lambda _u, _r: None

    # ---- membership --------------------------------------------------------------------
    def update(self, specs: Iterable[UpstreamSpec]) -> None:
        """Replace the membership; known URLs keep their health and ejection state."""
        fresh: dict[str, Upstream] = {}
        for spec in specs:
            if spec.role not in ROLES:
                continue
            old = self.upstreams.get(spec.url)
            if old is not None:
                old.spec = spec
                fresh[spec.url] = old
            else:
                fresh[spec.url] = Upstream(spec, healthy=bool(spec.ready))
        self.upstreams = fresh

    def by_role(self, role: str) -> list[Upstream]:
        return [u for u in self.upstreams.values() if u.role == role]

    # ---- selection -------------------------------------------------------------------
    def active_share(self, now: float | None = None) -> float:
        """Share of traffic the active pool takes (1.0 unless its healthy share is low)."""
        now = self.clock() if now is None else now
        active = self.by_role("active")
        healthy = sum(1 for u in active if u.available(now))
        if healthy == 0:
            return 0.0
        wanted = max(len(active), self.settings.expected_active)
        if healthy >= wanted * self.settings.standby_threshold:
            return 1.0
        standby = sum(1 for u in self.by_role("standby") if u.available(now))
        return healthy / (healthy + standby) if healthy + standby else 0.0

    def serving_capacity(self, now: float | None = None) -> float:
        """The load the available replicas can carry as this split sends it, in replicas'
        worth (replicas of equal capacity): the pool a share overloads first sets it."""
        now = self.clock() if now is None else now
        share = self.active_share(now)
        available = {role: sum(1 for u in self.by_role(role) if u.available(now)) for role in ROLES}
        if share >= 1.0:
            return float(available["active"])
        if share <= 0.0:
            return float(available["standby"])
        return min(available["active"] / share, available["standby"] / (1.0 - share))

    def choose(self, tried: Iterable[Upstream] = ()) -> Upstream | None:
        """Pick an upstream for the next try, or None when nobody is available."""
        now = self.clock()
        tried = list(tried)
        tried_urls = {u.url for u in tried}
        tried_zones = {u.zone for u in tried if u.zone is not None}
        pools = {
            role: [u for u in self.by_role(role) if u.available(now) and u.url not in tried_urls]
            for role in ROLES
        }
        first = "active" if self.rng.random() < self.active_share(now) else "standby"
        order = [first, "standby" if first == "active" else "active"]
        for role in order:
            candidates = pools[role]
            if not candidates:
                continue
            other_zone = [u for u in candidates if u.zone not in tried_zones]
            candidates = other_zone or candidates
            if len(candidates) == 1:
                return candidates[0]
            a, b = self.rng.sample(candidates, 2)
            return a if a.inflight <= b.inflight else b
        return None

    # ---- passive health --------------------------------------------------------------
    def record_success(self, up: Upstream) -> None:
        up.ejections_in_row = 0
        up.failures_in_row = 0

    def record_failure(self, up: Upstream, reason: str) -> None:
        """Eject for a growing while: at once when the replica refused the connection (it is
        gone), after ``eject_after`` failures in a row for timeouts and 5xx, and for those
        never past ``max_ejected_share`` of its pool: an overloaded fleet is not ejected
        into an empty one (Envoy's max_ejection_percent)."""
        up.failures += 1
        up.failures_in_row += 1
        if not self.settings.ejection:
            return
        now = self.clock()
        if up.ejected(now):
            return
        if reason != "connect_error":
            if up.failures_in_row < self.settings.eject_after:
                return
            peers = self.by_role(up.role)
            ejected = sum(1 for u in peers if u.ejected(now))
            if (ejected + 1) / len(peers) > self.settings.max_ejected_share:
                return
        span = min(self.settings.eject_base_s * 2**up.ejections_in_row, self.settings.eject_max_s)
        up.ejections_in_row += 1
        up.ejections += 1
        up.ejected_until = now + span
        up.healthy = False
        up.last_change = now
        self.on_eject(up, reason)

    # ---- active health ---------------------------------------------------------------
    def record_probe(self, up: Upstream, ok: bool) -> None:
        now = self.clock()
        if ok:
            up.probe_failures = 0
            if not up.healthy and not up.ejected(now):
                up.healthy, up.last_change = True, now
        else:
            up.probe_failures += 1
            if up.healthy and up.probe_failures >= self.settings.unhealthy_after:
                up.healthy, up.last_change = False, now

    async def probe_all(self, session: aiohttp.ClientSession) -> None:
        ups = list(self.upstreams.values())
        results = await asyncio.gather(*(self._probe(session, u) for u in ups))
        for up, ok in zip(ups, results, strict=True):
            if self.upstreams.get(up.url) is up:
                self.record_probe(up, ok)

    async def _probe(self, session: aiohttp.ClientSession, up: Upstream) -> bool:
        timeout = aiohttp.ClientTimeout(total=self.settings.probe_timeout_s)
        try:
            async with session.get(f"{up.url}/readyz", timeout=timeout) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def run_probes(self, session: aiohttp.ClientSession) -> None:
        while True:
            started = self.clock()
            await self.probe_all(session)
            spent = self.clock() - started
            await asyncio.sleep(max(0.01, self.settings.probe_interval_s - spent))

    def counts(self) -> dict[str, dict[str, int]]:
        now = self.clock()
        out: dict[str, dict[str, int]] = {}
        for role in ROLES:
            ups = self.by_role(role)
            out[role] = {"total": len(ups), "available": sum(u.available(now) for u in ups)}
        return out
