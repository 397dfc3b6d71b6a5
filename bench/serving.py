"""``python -m bench.serving``: throughput and latency of a real replica on a large synthetic model.

It publishes a random-weight two-tower model (100k items, 50k users by default) into a
temporary ``file://`` store, then in one run:

1. measures in process the compute bound (batched matmul + top-k at the best batch size)
   and the naive path (one request, one user-tower forward, one top-k, no batching);
2. starts a real replica process and drives it over HTTP with a closed-loop load
   (``--concurrency`` clients, as fast as answers come) and an open-loop load at a
   fixed rate (``--rate`` requests/s, latency counted from the scheduled send time),
   both from the one load generator, ``experiments.probes.load``;
3. prints recommendations/s, p50/p99, the replica's peak RSS, the ratios and which
   targets were met. The load generator shares the machine's cores with the replica.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import torch

from experiments.probes.load import RequestResult, closed_loop, open_loop, summarise
from model.architecture import ModelConfig, TwoTower
from model.artifacts import Artifacts, publish_artifacts
from model.store import open_store
from serving.replica.engine import EngineOptions, Query, ServingModel, configure_cpu_threads

TARGETS = {
    "throughput_rps": 2500.0,  # recommendations/s under closed-loop load ...
    "throughput_p99_ms": 50.0,  # ... with p99 at most this
    "fixed_rate_p99_ms": 10.0,  # p99 at --rate requests/s
    "vs_compute_bound": 0.5,
    "vs_naive": 3.0,
    "rss_mb": 600.0,
}


def synthetic_artifacts(
    n_items: int, n_users: int, dim: int = 64, history_len: int = 20, seed: int = 0
) -> Artifacts:
    """Random weights with the real architecture: sizes, not quality, are what is measured."""
    gen = torch.Generator().manual_seed(seed)
    config = ModelConfig(
        n_users=n_users + 1,
        n_items=n_items + 1,
        n_categories=200,
        n_brands=2000,
        dim=dim,
        hidden=2 * dim,
        history_len=history_len,
    )
    torch.manual_seed(seed)
    model = TwoTower(config)
    history = torch.randint(1, n_items + 1, (n_users + 1, history_len), generator=gen)
    history[0] = 0
    return Artifacts(
        config=config,
        state_dict=model.state_dict(),
        users=[f"user-{i}" for i in range(n_users)],
        items=[f"sku-{i}" for i in range(n_items)],
        item_category=torch.randint(0, 200, (n_items + 1,), generator=gen),
        item_brand=torch.randint(0, 2000, (n_items + 1,), generator=gen),
        user_history=history,
    )


def request_bodies(art: Artifacts, n: int, seed: int = 1) -> list[dict]:
    """A shop-like mix: 80% known users, 10% unknown with history, 10% cold start."""
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.8:
            bodies.append({"user_id": rng.choice(art.users), "k": 10})
        elif roll < 0.9:
            history = [rng.choice(art.items) for _ in range(5)]
            bodies.append({"user_id": f"guest-{rng.random()}", "k": 10, "history": history})
        else:
            bodies.append({"user_id": f"guest-{rng.random()}", "k": 10})
    return bodies


def as_query(body: dict) -> Query:
    return Query(body["user_id"], body["k"], tuple(body.get("history", ())), ())


# ---------------------------------------------------------------------- in process
@dataclass
class Rate:
    """Queries per wall-clock second, and per CPU second of this process (contention-proof)."""

    per_s: float
    per_cpu_s: float


class Meter:
    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> float:
        return time.perf_counter() - self.wall

    def rate(self, done: int) -> Rate:
        cpu = max(time.process_time() - self.cpu, 1e-9)
        return Rate(done / self.elapsed(), done / cpu)


def compute_bound(engine: ServingModel, queries: list[Query], sizes: list[int]) -> dict[int, Rate]:
    """Queries/s of ``recommend_batch`` at each batch size (the replica's inner loop)."""
    rates = {}
    for size in sizes:
        batches = [queries[i : i + size] for i in range(0, len(queries) - size + 1, size)]
        engine.recommend_batch(batches[0])
        meter, done = Meter(), 0
        for batch in batches:
            engine.recommend_batch(batch)
            done += len(batch)
            if meter.elapsed() > 3.0:
                break
        rates[size] = meter.rate(done)
    return rates


def naive_rate(engine: ServingModel, queries: list[Query], seconds: float = 3.0) -> Rate:
    """One request, one forward: the user tower, a [1, d] x [d, items] matmul and a top-k each."""
    history = torch.from_numpy(engine.history_rows + 1).clamp(min=0)
    meter, done = Meter(), 0
    with torch.inference_mode():
        for q in queries:
            uidx = engine.user_index.get(q.user_id)
            if uidx is not None:
                users = torch.tensor([uidx])
                vector = engine.model.user_vectors(users, history[users])
            elif q.history:
                rows = [engine.item_index[i] for i in q.history if i in engine.item_index]
                vector = torch.nn.functional.normalize(engine.item_vectors[rows].mean(0), dim=0)
                vector = vector.unsqueeze(0)
            else:
                done += 1
                continue
            torch.topk(vector @ engine.item_matrix, q.k, dim=1)
            done += 1
            if meter.elapsed() > seconds:
                break
    return meter.rate(done)


# ---------------------------------------------------------------------- over HTTP
@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float = 0.0
    server_cpu_ms_per_request: float = 0.0


def load_result(results: list[RequestResult], seconds: float) -> LoadResult:
    """The figures of one load phase: answered requests/s and their p50/p99."""
    summary = summarise(results)
    answered = summary["ok"]
    return LoadResult(
        requests=answered,
        errors=summary["errors"] + summary["shed"],
        seconds=seconds,
        rps=answered / seconds,
        p50_ms=summary["p50_ms"] if summary["p50_ms"] is not None else float("nan"),
        p99_ms=summary["p99_ms"] if summary["p99_ms"] is not None else float("nan"),
    )


async def timed_phase(phase: Awaitable[list[RequestResult]]) -> LoadResult:
    start = time.perf_counter()
    results = await phase
    return load_result(results, time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


def start_replica(store_url: str, cache: Path, port: int, args: argparse.Namespace):
    cmd = [
        sys.executable, "-m", "serving.replica", "--store", store_url, "--model", "bench",
        "--port", str(port), "--cache-dir", str(cache), "--zone", "bench",
        "--replica-id", "bench", "--poll-interval", "60",
        "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
        "--torch-threads", str(args.torch_threads), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(cmd, env=env, start_new_session=True)


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"bench: the replica exited with {proc.returncode}")
            try:
                async with session.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit("bench: the replica never became ready")


async def drive(
    url: str, bodies: list[bytes], args: argparse.Namespace, pid: int
) -> dict[str, LoadResult]:
    await closed_loop(url, 1.0, args.concurrency, bodies=bodies)  # warm connections, code paths
    phases = {
        "closed_loop": lambda: closed_loop(url, args.duration, args.concurrency, bodies=bodies),
        "fixed_rate": lambda: open_loop(url, args.rate, args.duration, 5.0, bodies=bodies),
    }
    results = {}
    for name, phase in phases.items():
        before = cpu_seconds(pid)
        result = await timed_phase(phase())
        result.server_cpu_s = cpu_seconds(pid) - before
        result.server_cpu_ms_per_request = 1000 * result.server_cpu_s / max(result.requests, 1)
        results[name] = result
    return results


def run(args: argparse.Namespace) -> dict:
    threads = configure_cpu_threads(args.torch_threads)
    work = Path(tempfile.mkdtemp(prefix="recdrill-bench-"))
    store_url = f"file://{work}/store"
    art = synthetic_artifacts(args.items, args.users)
    manifest = publish_artifacts(
        open_store(store_url), "bench", art, work / "build", metrics={},
        popular_items=art.items[:100], data_fingerprint="synthetic",
    )  # fmt: skip
    open_store(store_url).promote("bench", manifest.version)
    bodies = request_bodies(art, 20_000)
    queries = [as_query(b) for b in bodies]
    engine = ServingModel.build("bench", manifest, art, EngineOptions())
    bound = compute_bound(engine, queries, [1, 8, 16, 32, 64, 128])
    naive = naive_rate(engine, queries)
    del engine, art

    port = free_port()
    proc = start_replica(store_url, work / "cache", port, args)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(url, proc))
        memory_loaded = rss_mb(proc.pid)
        encoded = [json.dumps(b).encode() for b in bodies]
        loads = asyncio.run(drive(url, encoded, args, proc.pid))
        memory = rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    best_batch = max(bound, key=lambda size: bound[size].per_s)
    best_cpu_batch = max(bound, key=lambda size: bound[size].per_cpu_s)
    closed = loads["closed_loop"]
    served_per_cpu_s = closed.requests / max(closed.server_cpu_s, 1e-9)
    report = {
        "items": args.items,
        "users": args.users,
        "cpus": os.cpu_count(),
        "torch_threads": threads,
        "load_average": os.getloadavg()[0],
        "compute_bound": {str(k): asdict(v) for k, v in bound.items()},
        "best_batch": best_batch,
        "naive": asdict(naive),
        "closed_loop": asdict(closed),
        "fixed_rate": {**asdict(loads["fixed_rate"]), "target_rps": args.rate},
        "replica_memory_after_load": memory_loaded,
        "replica_memory": memory,
        "ratio_vs_compute_bound": round(closed.rps / bound[best_batch].per_s, 3),
        "ratio_vs_naive": round(closed.rps / naive.per_s, 2),
        # the same ratios per CPU second: what the server does with the CPU it actually got
        "replica_rec_per_cpu_s": round(served_per_cpu_s, 1),
        "cpu_ratio_vs_compute_bound": round(served_per_cpu_s / bound[best_cpu_batch].per_cpu_s, 3),
        "cpu_ratio_vs_naive": round(served_per_cpu_s / naive.per_cpu_s, 2),
    }
    served = closed.rps
    report["targets"] = {
        "throughput": served >= TARGETS["throughput_rps"]
        and loads["closed_loop"].p99_ms <= TARGETS["throughput_p99_ms"],
        "fixed_rate_p99": loads["fixed_rate"].p99_ms <= TARGETS["fixed_rate_p99_ms"],
        "vs_compute_bound": report["ratio_vs_compute_bound"] >= TARGETS["vs_compute_bound"],
        "vs_naive": report["ratio_vs_naive"] >= TARGETS["vs_naive"],
        "rss": memory["peak_rss_mb"] <= TARGETS["rss_mb"],
    }
    return report


def print_report(r: dict) -> None:
    cl, fr, naive = r["closed_loop"], r["fixed_rate"], r["naive"]
    print(f"model: {r['items']} items, {r['users']} users; {r['cpus']} CPUs, "
          f"torch threads {r['torch_threads']}, load average {r['load_average']:.1f}")  # fmt: skip
    print("compute bound (in process) by batch size, queries/s [per CPU-s]: " + ", ".join(
        f"{b}: {q['per_s']:.0f} [{q['per_cpu_s']:.0f}]" for b, q in r["compute_bound"].items()
    ))  # fmt: skip
    print(f"naive path (in process, one forward per request): {naive['per_s']:.0f} queries/s "
          f"[{naive['per_cpu_s']:.0f} per CPU-s]")  # fmt: skip
    for name, res in (("closed loop", cl), (f"{fr['target_rps']:.0f} req/s", fr)):
        print(f"replica, {name}: {res['rps']:.0f} rec/s, p50 {res['p50_ms']:.1f} ms, "
              f"p99 {res['p99_ms']:.1f} ms, errors {res['errors']}, "
              f"server CPU {res['server_cpu_ms_per_request']:.2f} ms/request")  # fmt: skip
    print(f"replica RSS after load {r['replica_memory_after_load']['rss_mb']:.0f} MB, "
          f"peak {r['replica_memory']['peak_rss_mb']:.0f} MB")  # fmt: skip
    print(f"ratios (wall clock): {r['ratio_vs_compute_bound']:.2f}x compute bound, "
          f"{r['ratio_vs_naive']:.1f}x naive")  # fmt: skip
    print(f"ratios (per CPU second): {r['replica_rec_per_cpu_s']:.0f} rec/CPU-s = "
          f"{r['cpu_ratio_vs_compute_bound']:.2f}x compute bound, "
          f"{r['cpu_ratio_vs_naive']:.1f}x naive")  # fmt: skip
    for name, met in r["targets"].items():
        print(f"target {name}: {'met' if met else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load phase")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop clients")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--max-wait-ms", type=float, default=2.0)
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if min(args.items, args.users, args.concurrency, args.max_batch, args.torch_threads) < 1:
        p.error("--items, --users, --concurrency, --max-batch and --torch-threads must be >= 1")
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
