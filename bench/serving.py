"""``python -m bench.serving``: the serving figures of issue 13, side by side in one run.

1. Publishes a random-weight two-tower model (100k items, 50k users by default) with its
   HNSW index into a temporary ``file://`` store; the index's recall@20 against exact
   search is measured at publish on 2,000 users, as training does.
2. Measures in process the naive path: one request, one user-tower forward, one exact
   ``[1, d] x [d, items]`` product and top-k, no batching, no HTTP.
3. Starts one real replica at a time and drives it over HTTP with the project's one load
   generator (``experiments.probes.load``): a closed loop (``--concurrency`` clients)
   for capacity, on approximate then exact search; then an open loop at
   ``--overload`` x the approximate capacity, where every request is due at a fixed
   time and timed from it, so a stall cannot hide (coordinated omission).
4. Publishes ``--large-items`` (1M) items, timing the index build, and measures that
   replica's throughput and memory.

It asserts nothing: it prints figures, the targets and whether each was met. The load
generator shares the machine's cores with the replica. On a machine with CUDA the
replicas run with ``--device auto`` and so on the GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import torch

from bench.serving_setup import (
    Replica,
    cpu_seconds,
    publish,
    request_bodies,
    rss_mb,
    start_replica,
    synthetic_artifacts,
    wait_ready,
)
from experiments.probes.load import closed_loop, open_loop, summarise
from model.index import IndexParams
from model.index import set_threads as set_index_threads
from serving.replica.engine import EngineOptions, Query, ServingModel, configure_cpu_threads

TARGETS = {
    "approx_rps": 2500.0,  # 100k items, closed loop over HTTP ...
    "approx_p99_ms": 50.0,  # ... at this p99
    "vs_exact": 3.0,
    "vs_naive": 3.0,
    "recall_at_20": 0.95,
    "large_rps": 1500.0,  # 1M items
    "large_p99_ms": 50.0,
    "large_rss_mb": 1536.0,
    "large_build_s": 60.0,
    "overload_p99_ms": 100.0,
}


def naive_rate(engine: ServingModel, queries: list[Query], seconds: float = 3.0) -> float:
    """Queries/s of one forward + one exact top-k per request (the unbatched server's work)."""
    history = torch.from_numpy(engine.history_rows + 1).clamp(min=0)
    matrix = engine.item_vectors.T.contiguous()
    started, done = time.perf_counter(), 0
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
            torch.topk(vector @ matrix, q.k, dim=1)
            done += 1
            if time.perf_counter() - started > seconds:
                break
    return done / (time.perf_counter() - started)


async def capacity(replica: Replica, bodies: list[bytes], args: argparse.Namespace) -> dict:
    """Closed-loop answers/s and p50/p99 (ms), plus the replica's CPU ms per answer."""
    await closed_loop(replica.url, 1.0, args.concurrency, bodies=bodies)  # warm up
    before, started = cpu_seconds(replica.pid), time.perf_counter()
    results = await closed_loop(replica.url, args.duration, args.concurrency, bodies=bodies)
    seconds = time.perf_counter() - started
    summary = summarise(results)
    cpu = cpu_seconds(replica.pid) - before
    return {
        "rps": round(summary["ok"] / seconds, 1),
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "answered": summary["ok"],
        "failed": summary["errors"],
        "shed": summary["shed"],
        "server_cpu_ms_per_answer": round(1000 * cpu / max(summary["ok"], 1), 3),
        **rss_mb(replica.pid),
    }


async def overload(replica: Replica, bodies: list[bytes], rate: float, seconds: float) -> dict:
    """Open loop at ``rate``: every request is answered in time, shed with 429, or failed."""
    before = await shed_by_reason(replica)
    results = await open_loop(replica.url, rate, seconds, 1.0, bodies=bodies)
    s = summarise(results)
    after = await shed_by_reason(replica)
    return {
        "rate_rps": round(rate, 1),
        "requests": s["requests"],
        "answered": s["ok"],
        "shed": s["shed"],
        "failed": s["errors"],
        "late": s["late"],
        "failed_kinds": s["error_kinds"],
        "shed_by_reason": {k: after[k] - before.get(k, 0) for k in after},
        "answered_or_shed_ratio": round((s["ok"] + s["shed"]) / max(s["requests"], 1), 4),
        "p50_ms": s["p50_ms"],
        "p99_ms": s["p99_ms"],
    }


async def shed_by_reason(replica: Replica) -> dict[str, int]:
    """The replica's 429s so far by reason (in_flight, queue_full, queue_time)."""
    async with aiohttp.ClientSession() as session, session.get(f"{replica.url}/metrics") as resp:
        return shed_counts(await resp.text())


def shed_counts(metrics: str) -> dict[str, int]:
    """``recdrill_replica_shed_total{reason=…}`` from a Prometheus text exposition."""
    shed = {}
    for line in metrics.splitlines():
        if line.startswith("recdrill_replica_shed_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            shed[reason] = int(float(line.rsplit(" ", 1)[1]))
    return shed


def progress(phase: str, figures: dict) -> None:
    """Each phase's figures on stderr as soon as they exist: a cut-short run still tells."""
    print(f"[bench.serving] {phase}: {json.dumps(figures)}", file=sys.stderr, flush=True)


def with_replica(store_url: str, model: str, cache: Path, flags: list[str], work) -> dict:
    replica = start_replica(store_url, model, cache, flags)
    try:
        info = asyncio.run(wait_ready(replica))
        result = {"search": info.get("search"), **asyncio.run(work(replica))}
        progress(f"{model} replica, {' '.join(flags)}", result)
        return result
    finally:
        replica.stop()


def run(args: argparse.Namespace) -> dict:
    """Every phase, in a temporary store that is removed afterwards (1M items: ~1 GB)."""
    work = Path(tempfile.mkdtemp(prefix="recdrill-bench-"))
    try:
        return run_in(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_in(args: argparse.Namespace, work: Path) -> dict:
    set_index_threads(os.cpu_count() or 1)  # publish builds with every core, as training does
    threads = torch.get_num_threads()
    store_url = f"file://{work}/store"
    params = IndexParams(
        m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef,
        ivf_from=args.ivf_from, nlist=args.nlist, nprobe=args.nprobe,
    )  # fmt: skip
    flags = ["--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
             "--torch-threads", str(args.torch_threads)]  # fmt: skip
    if args.max_in_flight:
        flags += ["--max-in-flight", str(args.max_in_flight)]
    art = synthetic_artifacts(args.items, args.users)
    manifest, publish_s = publish(store_url, "bench", art, work / "build", params)
    progress("publish", {"seconds": round(publish_s, 1), "index": manifest.data["index"]})
    raw = request_bodies(art, 20_000)
    bodies = [orjson.dumps(b) for b in raw]
    configure_cpu_threads(args.torch_threads)  # the naive path: one thread, like the replica
    engine = ServingModel.build("bench", manifest, art, EngineOptions(search="exact"))
    queries = [Query(b["user_id"], b["k"], tuple(b.get("history", ()))) for b in raw]
    naive = naive_rate(engine, queries)
    progress("naive", {"rps": round(naive, 1)})
    del engine, art

    async def measure_approx(replica: Replica) -> dict:
        cap = await capacity(replica, bodies, args)
        over = await overload(replica, bodies, args.overload * cap["rps"], args.duration)
        return {**cap, "overload": over}

    approx = with_replica(store_url, "bench", work / "cache-a", flags, measure_approx)
    exact = with_replica(
        store_url, "bench", work / "cache-e", [*flags, "--search", "exact"],
        lambda r: capacity(r, bodies, args),
    )  # fmt: skip
    report = {
        "items": args.items,
        "users": args.users,
        "cpus": os.cpu_count(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": args.torch_threads,
        "publish_threads": threads,
        "load_average_start": os.getloadavg()[0],
        "index": manifest.data["index"],
        "publish_seconds": round(publish_s, 1),
        "naive_rps": round(naive, 1),
        "approximate": approx,
        "exact": exact,
        "vs_exact": round(approx["rps"] / max(exact["rps"], 1e-9), 2),
        "vs_naive": round(approx["rps"] / max(naive, 1e-9), 2),
        "recall_at_20": manifest.data["index"]["recall@20"],
    }
    if args.large_items:
        set_index_threads(os.cpu_count() or 1)
        large = synthetic_artifacts(args.large_items, args.users, seed=1)
        large_manifest, large_publish_s = publish(store_url, "large", large, work / "b1", params)
        large_bodies = [orjson.dumps(b) for b in request_bodies(large, 20_000)]
        progress(
            "publish large", {"seconds": round(large_publish_s, 1), **large_manifest.data["index"]}
        )
        del large
        report["large"] = {
            "items": args.large_items,
            "index_kind": large_manifest.data["index"]["kind"],
            "index_params": large_manifest.data["index"]["params"],
            "index_build_seconds": large_manifest.data["index"]["build_seconds"],
            "recall_at_20": large_manifest.data["index"]["recall@20"],
            "publish_seconds": round(large_publish_s, 1),
            **with_replica(
                store_url, "large", work / "cache-l", flags,
                lambda r: capacity(r, large_bodies, args),
            ),
        }  # fmt: skip
    report["load_average_end"] = os.getloadavg()[0]
    report["targets"] = targets_met(report)
    return report


def targets_met(r: dict) -> dict[str, bool]:
    a, over, t = r["approximate"], r["approximate"]["overload"], TARGETS
    met = {
        "approx_throughput": a["rps"] >= t["approx_rps"] and a["p99_ms"] <= t["approx_p99_ms"],
        "vs_exact": r["vs_exact"] >= t["vs_exact"],
        "vs_naive": r["vs_naive"] >= t["vs_naive"],
        "recall_at_20": r["recall_at_20"] >= t["recall_at_20"],
        "overload": over["failed"] == 0 and (over["p99_ms"] or 0.0) <= t["overload_p99_ms"],
    }
    if "large" in r:
        big = r["large"]
        met["large_throughput"] = (
            big["rps"] >= t["large_rps"] and big["p99_ms"] <= t["large_p99_ms"]
        )
        met["large_rss"] = big["peak_rss_mb"] <= t["large_rss_mb"]
        met["large_build"] = big["index_build_seconds"] <= t["large_build_s"]
    return met


def print_report(r: dict) -> None:
    a, e, over = r["approximate"], r["exact"], r["approximate"]["overload"]
    print(f"{r['items']} items, {r['users']} users; {r['cpus']} CPUs, device {r['device']}, "
          f"torch threads {r['torch_threads']}, load average {r['load_average_start']:.1f} "
          f"-> {r['load_average_end']:.1f}")  # fmt: skip
    print(f"index: {r['index']['kind']} {r['index']['params']}, recall@20 vs exact "
          f"{r['recall_at_20']:.4f}, build {r['index']['build_seconds']} s")  # fmt: skip
    for name, res in (("approximate", a), ("exact", e)):
        print(f"{name} over HTTP: {res['rps']:.0f} rec/s, p50 {res['p50_ms']} ms, p99 "
              f"{res['p99_ms']} ms, failed {res['failed']}, shed {res['shed']}, server CPU "
              f"{res['server_cpu_ms_per_answer']} ms/answer, "
              f"peak RSS {res['peak_rss_mb']:.0f} MB")  # fmt: skip
    print(f"naive (in process): {r['naive_rps']:.0f} q/s; approximate = {r['vs_exact']}x exact, "
          f"{r['vs_naive']}x naive")  # fmt: skip
    print(f"overload at {over['rate_rps']:.0f} req/s: {over['answered']} answered, {over['shed']} "
          f"shed (429), {over['failed']} failed {over['failed_kinds']}, answered p99 "
          f"{over['p99_ms']} ms; shed by reason {over['shed_by_reason']}")  # fmt: skip
    if "large" in r:
        big = r["large"]
        print(f"{big['items']} items: {big['index_kind']} index build "
              f"{big['index_build_seconds']} s, recall@20 "
              f"{big['recall_at_20']:.4f}, {big['rps']:.0f} rec/s, p99 {big['p99_ms']} ms, "
              f"peak RSS {big['peak_rss_mb']:.0f} MB")  # fmt: skip
    for name, met in r["targets"].items():
        print(f"target {name}: {'met' if met else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--users", type=int, default=50_000)
    p.add_argument("--large-items", type=int, default=1_000_000, help="0 skips the 1M phase")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per load phase")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop clients")
    p.add_argument("--overload", type=float, default=3.0, help="x capacity for shedding")
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--max-wait-ms", type=float, default=2.0)
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--max-in-flight", type=int, default=0, help="0: the replica's default")
    p.add_argument("--hnsw-m", type=int, default=IndexParams.m)
    p.add_argument("--ef-construction", type=int, default=IndexParams.ef_construction)
    p.add_argument("--ef", type=int, default=IndexParams.ef_search, help="HNSW efSearch")
    p.add_argument("--ivf-from", type=int, default=IndexParams.ivf_from, help="items for IVF")
    p.add_argument("--nlist", type=int, default=IndexParams.nlist, help="IVF lists; 0: sqrt(n)")
    p.add_argument("--nprobe", type=int, default=IndexParams.nprobe, help="IVF lists scanned")
    p.add_argument("--json", action="store_true", help="last line: the report as one JSON object")
    args = p.parse_args(argv)
    sizes = (args.items, args.users, args.concurrency, args.max_batch, args.torch_threads)
    if min(sizes) < 1 or args.large_items < 0 or args.duration <= 0 or args.overload <= 0:
        p.error("sizes, --duration and --overload must be positive (--large-items may be 0)")
    # the index build's steps (vectors, k-means, add, recall) as progress on stderr
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[%(name)s] %(message)s")
    logging.getLogger("recdrill.index").setLevel(logging.INFO)
    report = run(args)
    print_report(report)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
