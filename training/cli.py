"""``python -m training train|evaluate|promote|rollback|versions|verify --store URL --model NAME``.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from rich.console import Console

from model.artifacts import read_artifacts
from model.store import STABLE, ModelStore, StoreError, check_name, open_store
from training.dataset import DataError, leave_last_out
from training.evaluate import evaluate, format_table
from training.promote import (
    DEFAULT_POPULARITY_FACTOR,
    DEFAULT_TOLERANCE,
    PromotionRefused,
    promote,
)
from training.train import CheckpointError

EXIT_ERROR = 1
EXIT_REFUSED = 3  # the promotion gate refused the version (not an error of the command)
err = Console(stderr=True, highlight=False)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, help="file:///path or s3://bucket/prefix")
    parser.add_argument("--model", required=True, help="model name in the store")


def _data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="auto",
        help="auto (online-retail if present, else synthetic), synthetic, online-retail, "
        "or an event-log path (u.data, ratings.csv, CSV/Parquet)",
    )
    parser.add_argument("--interactions", type=int, default=200_000, help="synthetic size")
    parser.add_argument("--items", type=int, default=20_000, help="synthetic catalogue size")
    parser.add_argument("--seed", type=int, default=0)


def _gate_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--popularity-factor", type=float, default=DEFAULT_POPULARITY_FACTOR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train, evaluate and publish a new version")
    _common(p)
    _data_args(p)
    _gate_args(p)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--promote", action="store_true", help="promote through the gate")
    p.add_argument(
        "--if-no-stable", action="store_true", help="do nothing when a stable alias exists"
    )
    p.add_argument("--max-eval-users", type=int, default=10_000)
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("evaluate", help="re-evaluate a published version on its data")
    _common(p)
    _data_args(p)
    p.add_argument("--version", help="version id (default: the stable alias)")
    p.add_argument("--max-eval-users", type=int, default=10_000)

    p = sub.add_parser("promote", help="move stable to a version through the gate")
    _common(p)
    _gate_args(p)
    p.add_argument("--version", required=True)
    p.add_argument("--force", action="store_true", help="skip the gate (recorded)")
    p.add_argument("--reason", help="why; recorded in the alias object")

    p = sub.add_parser("rollback", help="move stable back to its previous version")
    _common(p)
    p.add_argument("--from-version", help="only roll back if stable still names this version")

    p = sub.add_parser("versions", help="list complete versions and aliases")
    _common(p)

    p = sub.add_parser("verify", help="check every file's sha256 and size")
    _common(p)
    p.add_argument("--version", help="version id (default: the stable alias)")
    return parser


def _open(args: argparse.Namespace) -> ModelStore:
    check_name("model", args.model)
    return open_store(args.store)


def _load(args: argparse.Namespace):
    from training.pipeline import load_data

    with err.status(f"loading data ({args.data})"):
        return load_data(
            args.data, interactions=args.interactions, items=args.items, seed=args.seed
        )


def cmd_train(args: argparse.Namespace) -> int:
    from training.pipeline import train_and_publish
    from training.promote import pipeline_held_out
    from training.promote import promote as gate_promote

    store = _open(args)
    if store._local:
        store.fs.makedirs(store.root, exist_ok=True)
    store.check_reachable()
    if args.if_no_stable and store.read_alias(args.model, STABLE):
        version = store.resolve(args.model, STABLE)
        print(version)
        err.print(f"stable already at {version}; nothing to do (--if-no-stable)")
        return 0
    data = _load(args)
    err.print(
        f"data: {data.source}: {len(data)} events, {data.n_users} users, {data.n_items} items"
    )
    published = train_and_publish(
        store,
        args.model,
        data,
        progress=not args.no_progress,
        max_eval_users=args.max_eval_users,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    err.print(format_table(published.metrics))
    version = published.manifest.version
    if args.promote or args.if_no_stable:
        history_len = int(published.manifest.data["architecture"]["history_len"])
        gate_promote(
            store,
            args.model,
            version,
            held_out=pipeline_held_out(data, history_len),
            tolerance=args.tolerance,
            popularity_factor=args.popularity_factor,
        )
        err.print(f"promoted {version} to stable")
    print(version)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    store = _open(args)
    version = args.version or store.resolve(args.model, STABLE)
    manifest = store.read_manifest(args.model, version)
    data = _load(args)
    if data.fingerprint() != manifest.data.get("data_fingerprint"):
        raise DataError(
            f"data {data.source} is not what {args.model}/{version} was trained on "
            "(fingerprint differs); pass the same --data/--interactions/--items/--seed"
        )
    with tempfile.TemporaryDirectory() as cache:
        art = read_artifacts(store.fetch(args.model, version, cache), manifest)
    split = leave_last_out(data, art.config.history_len)
    metrics = evaluate(art.build_model(), data, split, max_users=args.max_eval_users)
    print(f"{args.model}/{version} on {data.source}")
    print(format_table(metrics))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    store = _open(args)
    body = promote(
        store,
        args.model,
        args.version,
        force=args.force,
        reason=args.reason,
        tolerance=args.tolerance,
        popularity_factor=args.popularity_factor,
    )
    print(json.dumps(body))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    store = _open(args)
    print(json.dumps(store.rollback(args.model, from_version=args.from_version)))
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    store = _open(args)
    versions = store.require_model(args.model)
    stable = store.read_alias(args.model, STABLE) or {}
    for version in versions:
        metrics = store.read_manifest(args.model, version).data.get("metrics") or {}
        recall = (metrics.get("model") or {}).get("recall@20")
        marks = [
            n
            for n, v in ((STABLE, "version"), ("previous", "previous"))
            if stable.get(v) == version
        ]
        shown = f"{recall:.4f}" if isinstance(recall, int | float) else "-"
        print(f"{version}  recall@20={shown}  {','.join(marks)}".rstrip())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store = _open(args)
    version = args.version or store.resolve(args.model, STABLE)
    manifest = store.verify(args.model, version)
    print(f"{args.model}/{version}: {len(manifest.files)} files verified")
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "promote": cmd_promote,
    "rollback": cmd_rollback,
    "versions": cmd_versions,
    "verify": cmd_verify,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PromotionRefused as exc:
        err.print(f"refused: {exc}", markup=False, soft_wrap=True)
        return EXIT_REFUSED
    except (StoreError, DataError, CheckpointError, FloatingPointError, ValueError, OSError) as exc:
        err.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return 130
