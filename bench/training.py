"""``python -m bench.training``: data generation, epoch time and quality vs popularity.

Prints figures; asserts nothing (speed targets are not tests). Defaults are the
issue's targets: 1M synthetic interactions over 100k items, 2 epochs, then the
online-retail data when present.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from training.dataset import Interactions
from training.evaluate import evaluate, format_table
from training.loaders import ONLINE_RETAIL, load_event_log
from training.synthetic import generate_shop
from training.train import train


def _run(name: str, data: Interactions, *, epochs: int, batch_size: int, max_users: int) -> None:
    started = time.perf_counter()
    result = train(data, epochs=epochs, batch_size=batch_size, out_dir=f"var/bench/{name}")
    train_s = time.perf_counter() - started
    epochs_s = ", ".join(f"{s:.1f}" for s in result.epoch_seconds)
    print(f"[{name}] train: {train_s:.1f} s total (split + {epochs} epochs: {epochs_s} s)")
    started = time.perf_counter()
    metrics = evaluate(result.model, data, result.split, max_users=max_users, progress=True)
    print(f"[{name}] evaluate: {time.perf_counter() - started:.1f} s")
    print(format_table(metrics))
    ratio = metrics["model"]["recall@20"] / max(metrics["popularity"]["recall@20"], 1e-12)
    print(f"[{name}] recall@20 = {ratio:.2f}x popularity")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--max-eval-users", type=int, default=10_000)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-retail", action="store_true")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads")
    if not args.skip_synthetic:
        started = time.perf_counter()
        data = generate_shop(n_interactions=args.interactions, n_items=args.items)
        print(
            f"[synthetic] data: {len(data):,} interactions, {data.n_users:,} users, "
            f"{data.n_items:,} items in {time.perf_counter() - started:.1f} s"
        )
        _run(
            "synthetic",
            data,
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_users=args.max_eval_users,
        )
    if not args.skip_retail and ONLINE_RETAIL.is_file():
        started = time.perf_counter()
        data = load_event_log(ONLINE_RETAIL, "online-retail")
        print(
            f"[online-retail] data: {len(data):,} events, {data.n_users:,} users, "
            f"{data.n_items:,} items loaded in {time.perf_counter() - started:.1f} s"
        )
        _run("online-retail", data, epochs=3, batch_size=1024, max_users=args.max_eval_users)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
