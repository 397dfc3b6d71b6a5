"""The CloudWatch Synthetics canary that the FIS zone-loss templates stop on.

It runs in the canary's Lambda (syn-python), standard library only, and is packaged as
``python/router_canary.py`` (infra/aws/canary.py). Every minute it sends a short burst of
``POST /v1/recommend`` to the router through its internal load balancer and fails the run
when the burst breaks the SLO the drill holds the system to: more errors than the error
budget allows, or a p99 over budget. Synthetics publishes each run's ``SuccessPercent``;
the stop-condition alarm fires on failed runs. A real client's view of availability and
latency is exactly what the router's NLB (layer 4, no status codes or latency) cannot give.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.request
from typing import Any

BODY = json.dumps({"user_id": "recdrill-canary", "k": 10}).encode()


def probe(url: str, requests: int, timeout_s: float) -> dict[str, Any]:
    """Send ``requests`` recommendations one after the other; count errors and the
    answers flagged ``degraded`` (popular items, no model behind them); time each."""
    errors, degraded, latencies_ms = 0, 0, []
    for _ in range(requests):
        started = time.perf_counter()
        try:
            request = urllib.request.Request(
                f"{url.rstrip('/')}/v1/recommend",
                data=BODY,
                headers={"content-type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:
                body = json.loads(answer.read())
            degraded += bool(isinstance(body, dict) and body.get("degraded"))
        except (urllib.error.URLError, OSError, ValueError):
            errors += 1
        latencies_ms.append((time.perf_counter() - started) * 1000.0)
    ordered = sorted(latencies_ms)
    p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0
    return {"requests": requests, "errors": errors, "degraded": degraded, "p99_ms": round(p99, 1)}


def breaches(result: dict[str, Any], max_error_ratio: float, p99_ms: float) -> list[str]:
    """What in ``result`` breaks the SLO; empty when the burst is within it."""
    found = []
    ratio = result["errors"] / result["requests"] if result["requests"] else 1.0
    if ratio > max_error_ratio:
        found.append(f"error ratio {ratio:.3f} over the budget {max_error_ratio:.3f}")
    if result["p99_ms"] > p99_ms:
        found.append(f"p99 {result['p99_ms']:.0f} ms over the budget {p99_ms:.0f} ms")
    return found


def ready(url: str, path: str, timeout_s: float) -> int:
    """The router's readiness answer: its HTTP status, 0 when nothing answered."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}{path}", timeout=timeout_s) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def readiness_handler(event: Any = None, context: Any = None) -> dict[str, Any]:
    """The steering canary: fails the run unless the router's readiness path answers 200
    and the region really recommends. Its alarm feeds the Route 53 health check of this
    region (infra/aws/steering.py), so a region whose routers are unready or unreachable
    loses the traffic, and so does one whose routers are up with no replica behind them:
    a router that knows the popular items stays ready and answers every request with
    them (``degraded``), which keeps the page filled but is no reason to keep a region
    whose model is gone when the other region has one. More degraded (or failed) answers
    in the burst than ``MAX_DEGRADED_RATIO`` fail the run."""
    env = os.environ
    status = ready(env["ROUTER_URL"], env["READY_PATH"], float(env["TIMEOUT_S"]))
    if status != 200:
        raise RuntimeError(f"router not ready: {env['READY_PATH']} answered {status or 'nothing'}")
    result = probe(env["ROUTER_URL"], int(env.get("REQUESTS", "5")), float(env["TIMEOUT_S"]))
    share = (result["degraded"] + result["errors"]) / result["requests"]
    if share > float(env["MAX_DEGRADED_RATIO"]):
        raise RuntimeError(
            f"router ready but not recommending: {result['degraded']} degraded and "
            f"{result['errors']} failed of {result['requests']} answers ({result})"
        )
    return {"status": status, **result}


def handler(event: Any = None, context: Any = None) -> dict[str, Any]:
    """The Synthetics entry point: raising fails the run (SuccessPercent drops)."""
    env = os.environ
    result = probe(env["ROUTER_URL"], int(env.get("REQUESTS", "20")), float(env["TIMEOUT_S"]))
    found = breaches(result, float(env["MAX_ERROR_RATIO"]), float(env["P99_MS"]))
    if found:
        raise RuntimeError(f"router outside its SLO: {'; '.join(found)} ({result})")
    return result
