"""``python -m bench.serving_index``: build time, memory, recall and search cost of the
retrieval index alone, on random unit vectors, with no model and no HTTP.

Random unit vectors are the worst case for recall (no structure for a graph or for lists
to use): a trained model's vectors do better, so recall here is a floor, and the figures
that matter from it are build time and memory. It asserts nothing; it prints figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time

import faiss
import torch

from model import index as ann


def unit_vectors(n: int, dim: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(n, dim)
    for start in range(0, n, 262_144):  # bounds the temporaries
        stop = min(start + 262_144, n)
        out[start:stop] = torch.nn.functional.normalize(
            torch.randn(stop - start, dim, generator=gen), dim=1
        )
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def search_figures(index, items, queries, k: int, batch: int) -> dict:
    """recall@k against exact, and ms per query in batches of ``batch`` on one thread."""
    recall = ann.recall_at_k(index, items, queries, k)
    ann.set_threads(1)
    started = time.perf_counter()
    for start in range(0, len(queries), batch):
        ann.search(index, queries[start : start + batch], k)
    ms = 1000 * (time.perf_counter() - started) / len(queries)
    return {"recall_at_20": round(recall, 4), "ms_per_query_1_thread": round(ms, 3)}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    items = unit_vectors(args.items, args.dim, seed=0)
    queries = unit_vectors(args.queries, args.dim, seed=1)
    base_rss = peak_rss_mb()
    params = ann.IndexParams(
        m=args.hnsw_m, ef_construction=args.ef_construction, ef_search=args.ef,
        ivf_from=args.ivf_from, nlist=args.nlist, nprobe=args.nprobe,
    )  # fmt: skip
    ann.set_threads(args.threads)
    started = time.perf_counter()
    index = ann.build_index(items, params)
    build_s = time.perf_counter() - started
    report = {
        "items": args.items,
        "dim": args.dim,
        "threads": args.threads,
        "kind": ann.index_kind(index),
        "params": {**params.__dict__, "nlist": getattr(index, "nlist", None)},
        "build_seconds": round(build_s, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "rss_before_build_mb": round(base_rss),
        "sweep": {},
    }
    print(f"[bench.serving_index] built: {json.dumps(report)}", file=sys.stderr, flush=True)
    for value in args.sweep or [args.nprobe if params.ivf_from <= args.items else args.ef]:
        if isinstance(index, faiss.IndexIVFFlat):
            index.nprobe = value
        else:
            index.hnsw.efSearch = value
        ann.set_threads(args.threads)
        report["sweep"][value] = search_figures(index, items, queries, ann.RECALL_K, 64)
        print(f"[bench.serving_index] {value}: {report['sweep'][value]}", file=sys.stderr)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.serving_index", description=__doc__)
    p.add_argument("--items", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=64, help="the model's dimension (default 64)")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--threads", type=int, default=2, help="build threads (publish uses all)")
    p.add_argument("--hnsw-m", type=int, default=ann.IndexParams.m)
    p.add_argument("--ef-construction", type=int, default=ann.IndexParams.ef_construction)
    p.add_argument("--ef", type=int, default=ann.IndexParams.ef_search)
    p.add_argument("--ivf-from", type=int, default=ann.IndexParams.ivf_from)
    p.add_argument("--nlist", type=int, default=ann.IndexParams.nlist, help="0: 4 x sqrt(n)")
    p.add_argument("--nprobe", type=int, default=ann.IndexParams.nprobe)
    p.add_argument("--sweep", type=int, nargs="*", help="nprobe (IVF) or efSearch (HNSW) values")
    args = p.parse_args(argv)
    if min(args.items, args.dim, args.queries, args.threads) < 1:
        p.error("--items, --dim, --queries and --threads must be positive")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    report = run(args)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
