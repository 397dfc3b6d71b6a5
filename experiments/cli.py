"""``python -m experiments``: render, run, rollback and gate the chaos experiments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from chaoslib.exceptions import ChaosException

from experiments.catalog import UnknownExperiment
from experiments.deployment import DeploymentError
from experiments.state import StateFileError


def _render(args: argparse.Namespace) -> int:
    from experiments.render import render

    for path in render(args.deployment, args.out, args.names or None):
        print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    from experiments.runner import run_catalog

    results = run_catalog(
        args.deployment,
        args.journals,
        args.names or None,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    missing = [r.name for r in results if not r.journal.exists()]
    killed = [r.name for r in results if r.exit_code is None]
    if missing:
        print(f"error: no journal written for {', '.join(missing)}", file=sys.stderr)
    if killed:
        print(f"error: killed at the run timeout: {', '.join(killed)}", file=sys.stderr)
    if missing or killed:
        return 1
    print(f"{len(results)} journal(s) in {args.journals}; run the gate for the verdict")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from experiments.rollback import rollback_state

    reverted, failed = rollback_state(args.state)
    for line in reverted:
        print(f"reverted: {line}")
    for line in failed:
        print(f"FAILED: {line}", file=sys.stderr)
    if not reverted and not failed:
        print(f"nothing pending in {args.state}")
    return 1 if failed else 0


def _gate(argv: list[str]) -> int:
    try:
        from experiments.gate import main as gate_main
    except ImportError as exc:
        print(f"error: gate not available ({exc})", file=sys.stderr)
        return 2
    return gate_main(argv)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write one experiment JSON per catalog entry")
    render.add_argument("--deployment", required=True, help="deployment description JSON")
    render.add_argument("--out", required=True, help="directory to write experiments to")
    render.add_argument("names", nargs="*", help="experiment names (default: all)")
    render.set_defaults(func=_render)
    run = sub.add_parser("run", help="run experiments with the chaos CLI, keep the journals")
    run.add_argument("--deployment", required=True, help="deployment description JSON")
    run.add_argument("--journals", required=True, help="directory for <name>.json journals")
    run.add_argument("names", nargs="*", help="experiment names (default: all)")
    run.set_defaults(func=_run)
    rollback = sub.add_parser("rollback", help="undo what a crashed run left pending")
    rollback.add_argument("--state", required=True, help="rollback state file")
    rollback.set_defaults(func=_rollback)
    sub.add_parser("gate", help="judge journals (see python -m experiments gate --help)")
    sub.add_parser(
        "sensitivity",
        help="run the drill against weakened deployments (see … sensitivity --help)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "gate":
        return _gate(argv[1:])
    if argv and argv[0] == "sensitivity":
        from experiments.sensitivity import main as sensitivity_main

        return sensitivity_main(argv[1:])
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (DeploymentError, UnknownExperiment, StateFileError, ChaosException, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
