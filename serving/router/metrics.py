"""The router's Prometheus metrics: one private registry per Router (tests build several)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from serving.router.upstreams import Pool

STATES = ("healthy", "unhealthy", "ejected")


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "recdrill_router_requests", "Client requests by outcome", ["outcome"], registry=r
        )
        self.latency = Histogram(
            "recdrill_router_request_seconds",
            "Client request latency",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.tries = Counter(
            "recdrill_router_upstream_tries",
            "Tries per upstream",
            ["upstream", "result"],
            registry=r,
        )
        self.retries = Counter(
            "recdrill_router_retries", "Retries and hedges to another replica", registry=r
        )
        self.hedges = Counter("recdrill_router_hedges", "Hedged tries", registry=r)
        self.ejections = Counter(
            "recdrill_router_ejections", "Passive ejections", ["upstream", "reason"], registry=r
        )
        self.degraded = Counter(
            "recdrill_router_degraded", "Fallback answers by reason", ["reason"], registry=r
        )
        self.model_refreshes = Counter(
            "recdrill_router_model_refreshes", "Popular-item refreshes from replicas", registry=r
        )
        self.upstream_state = Gauge(
            "recdrill_router_upstream_state",
            "1 for the state each upstream is in",
            ["upstream", "zone", "role", "state"],
            registry=r,
        )
        self.active_share = Gauge(
            "recdrill_router_active_share", "Share of traffic sent to the active pool", registry=r
        )

    def render(self, pool: Pool) -> tuple[bytes, str]:
        now = pool.clock()
        self.upstream_state.clear()
        for up in pool.upstreams.values():
            current = up.state(now)
            for state in STATES:
                self.upstream_state.labels(up.id, up.zone or "", up.role, state).set(
                    1.0 if state == current else 0.0
                )
        self.active_share.set(pool.active_share(now))
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
