"""Tiny real HTTP servers on loopback for unit tests of the experiment activities.

``json_server(route)`` serves every request by calling ``route(method, path, query, body)``
→ ``(status, json_body)`` (or ``(status, body, delay_s)``; a ``str`` body goes out as
text) and records each request.
With ``with_headers=True`` the route also gets the request headers (a fifth argument).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Route = Callable[[str, str, dict[str, str], Any], tuple]


@dataclass
class Server:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def json_server(route: Route, with_headers: bool = False) -> Iterator[Server]:
    server_info = Server(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with lock:
                server_info.requests.append(
                    {
                        "method": self.command,
                        "path": parts.path,
                        "query": query,
                        "body": body,
                        "headers": dict(self.headers),
                    }
                )
            args = (self.command, parts.path, query, body)
            answer = route(*args, dict(self.headers)) if with_headers else route(*args)
            status, payload = answer[0], answer[1]
            if len(answer) > 2:
                time.sleep(answer[2])
            text = isinstance(payload, str)  # a text body (Prometheus metrics), sent as is
            data = payload.encode() if text else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server_info.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server_info
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def deployment(platform: str = "local", **overrides: Any) -> dict[str, Any]:
    """A deployment description (DESIGN.md contract 2) pointing at nothing by default."""
    body: dict[str, Any] = {
        "environment": platform,
        "platform": platform,
        "endpoint": "http://127.0.0.1:9",
        "zones": ["local-a", "local-b", "local-c"],
        "zone_label": "topology.kubernetes.io/zone",
        "namespace": "recdrill",
        "selectors": {
            "active": "app=recdrill-replica,role=active",
            "standby": "app=recdrill-replica,role=standby",
            "router": "app=recdrill-router",
        },
        "replicas_per_zone": 2,
        "standby_replicas": 1,
        "model_store": {"url": "file:///nonexistent/store", "dr_url": None, "model": "recommender"},
        "slo": {
            "availability": 0.999,
            "p99_ms": 250,
            "max_degraded_ratio": 0.05,
            "quality_floor": 0.8,
            "rto_s": 30,
        },
        "control": {"url": "http://127.0.0.1:8", "token": "s3cr3t-control-token"},
    }
    if platform == "kubernetes":
        del body["control"]
        body["zones"] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
        body["selectors"] = {
            "active": "app.kubernetes.io/name=recdrill-replica,recdrill.io/role=active",
            "standby": "app.kubernetes.io/name=recdrill-replica,recdrill.io/role=standby",
            "router": "app.kubernetes.io/name=recdrill-router",
        }
        body["model_store"]["url"] = "s3://models/recdrill"
    body.update(overrides)
    return body


def write_deployment(tmp_path, platform: str = "local", **overrides: Any):
    path = tmp_path / f"deployment-{platform}.json"
    path.write_text(json.dumps(deployment(platform, **overrides)))
    return path
