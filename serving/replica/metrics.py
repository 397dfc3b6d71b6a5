"""Prometheus metrics of one replica, in a registry per app (so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

KNOWN_ROUTES = frozenset(
    {"/v1/recommend", "/v1/model", "/healthz", "/readyz", "/metrics", "/admin/reload"}
)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ReplicaMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._request_children: dict[tuple[str, int], tuple] = {}
        r = self.registry
        self.requests = Counter(
            "recdrill_replica_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "recdrill_replica_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "recdrill_replica_batch_size",
            "queries per computed batch",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "recdrill_replica_batch_seconds",
            "compute time per batch",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "recdrill_replica_answers",
            "answers by source (user, history, popular)",
            ["source"],
            registry=r,
        )
        self.cold_start = Counter(
            "recdrill_replica_cold_start_answers",
            "unknown user without usable history: answered with popular items",
            registry=r,
        )
        self.degraded = Counter(
            "recdrill_replica_degraded_answers", "answers flagged degraded", registry=r
        )
        self.model = Info("recdrill_replica_model", "the model version being served", registry=r)
        self.loads = Counter(
            "recdrill_replica_model_loads",
            "successful model loads by origin",
            ["origin"],
            registry=r,
        )
        self.load_failures = Counter(
            "recdrill_replica_model_load_failures",
            "failed model loads by reason",
            ["reason"],
            registry=r,
        )
        self.poll_errors = Counter(
            "recdrill_replica_store_poll_errors",
            "alias polls that could not read the store",
            registry=r,
        )
        self.shed = Counter(
            "recdrill_replica_shed",
            "requests answered 429 by admission control (in_flight, queue_full, queue_time)",
            ["reason"],
            registry=r,
        )
        self.search = Gauge(
            "recdrill_replica_search",
            "1 for the search the loaded version uses (approximate or exact)",
            ["search"],
            registry=r,
        )
        self.exact_fallbacks = Counter(
            "recdrill_replica_exact_fallbacks",
            "approximate queries re-ranked exactly (the index gave fewer than k)",
            registry=r,
        )
        self.ready = Gauge("recdrill_replica_ready", "1 when /readyz answers 200", registry=r)
        self.draining = Gauge("recdrill_replica_draining", "1 after SIGTERM", registry=r)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        route = path if path in KNOWN_ROUTES else "other"
        key = (route, status)
        children = self._request_children.get(key)
        if children is None:  # labels() is slow enough to matter on the hot path: cache it
            children = (self.requests.labels(route, str(status)), self.latency.labels(route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def observe_answer(self, source: str, degraded: bool) -> None:
        self.answers.labels(source).inc()
        if source == "popular":
            self.cold_start.inc()
        if degraded:
            self.degraded.inc()

    def observe_search(self, search: str) -> None:
        for mode in ("approximate", "exact"):
            self.search.labels(mode).set(1 if mode == search else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
