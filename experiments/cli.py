"""``python -m experiments``: render, run, rollback and gate the chaos experiments.

``run`` exit codes: 0 every journal written; 1 a journal is missing, a run was killed,
or ``--escalate`` stopped at a failed experiment; 2 bad input; 3 refused by the
pre-flight (outside a drill window, unhealthy steady state, over the traffic ceiling).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from chaoslib.exceptions import ChaosException

from experiments.catalog import BlastRadiusError, UnknownExperiment
from experiments.controls.cloudwatch import AlarmSourceError
from experiments.deployment import DeploymentError
from experiments.preflight import PreflightRefused
from experiments.render import OverrideError
from experiments.state import StateFileError

EXIT_REFUSED = 3


class UsageProblem(ValueError):
    """A run flag that cannot be understood."""


def parse_sets(pairs: list[str]) -> dict[str, object]:
    """``key=value`` pairs; values are read as JSON (numbers, true, null) else as text."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"--set {pair!r}: expected key=value, e.g. --set blast_replicas=2")
        try:
            overrides[key.strip()] = json.loads(text)
        except ValueError:
            overrides[key.strip()] = text
    return overrides


def _order(platform: str, names: list[str], escalate: bool, regions: bool = False) -> list[str]:
    from experiments import catalog

    catalog.check_regions(names, regions)
    available = catalog.names(platform, regions)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UnknownExperiment(
            f"unknown experiment(s) {', '.join(unknown)} for {platform}; known: "
            f"{', '.join(available)}"
        )
    if not escalate:
        return names or available
    return [n for n in catalog.escalation_order(platform, regions) if not names or n in names]


def _render(args: argparse.Namespace) -> int:
    from experiments.render import render

    for path in render(args.deployment, args.out, args.names or None):
        print(path)
    return 0


def _run(args: argparse.Namespace) -> int:
    from contracts.deployment import Deployment
    from experiments.capacity import load_configuration
    from experiments.controls.safeguard import check_sources
    from experiments.dry_run import plan_lines
    from experiments.isolation_join import join_drill_group
    from experiments.preflight import enforce, preflight
    from experiments.render import render_one
    from experiments.runner import run_catalog

    if args.capacity_rps is not None and args.load_rps is None:
        print("error: --capacity-rps needs --load-rps", file=sys.stderr)
        return 2
    load = load_configuration(args.load_rps, args.capacity_rps) if args.load_rps else {}
    if args.replica_capacity_rps is not None:
        load["replica_capacity_rps"] = args.replica_capacity_rps
    deployment = Deployment.load(args.deployment)
    sets = parse_sets(args.set)
    overrides = {**load, **sets}
    order = _order(deployment.platform, args.names, args.escalate, bool(deployment.regions))
    peak = peak_overrides(order, args.peak_rps, args.capacity_rps, sets)
    description = deployment.to_json()
    bodies = {  # validated when run_catalog renders them; a dry run validates here
        n: render_one(
            n,
            description,
            args.deployment,
            {**overrides, **peak.get(n, {})},
            validate=args.dry_run,
            checked=frozenset(sets),
        )
        for n in order
    }
    # A safeguard that cannot read its alarms must not run; read them once, up front.
    alarms = {source for body in bodies.values() if (source := check_sources(body))}
    found = preflight(deployment, bodies, probe=not args.dry_run)
    if args.dry_run:
        print("\n".join(plan_lines(bodies, found)))
        for source in sorted(alarms):
            print(f"safeguard also stops on: {source} in ALARM (all exist now)")
        return 0
    extensions = enforce(found, args.force)
    overrides = {**join_drill_group(deployment, say=_say), **overrides}
    results = run_catalog(
        args.deployment,
        args.journals,
        order,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        overrides=overrides,
        extensions=extensions,
        escalate=args.escalate,
        by_experiment=peak,
    )
    missing = [r.name for r in results if not r.journal.exists()]
    killed = [r.name for r in results if r.exit_code is None]
    if missing:
        print(f"error: no journal written for {', '.join(missing)}", file=sys.stderr)
    if killed:
        print(f"error: killed at the run timeout: {', '.join(killed)}", file=sys.stderr)
    if missing or killed:
        return 1
    stopped = [r.name for r in results if r.passed is False]
    if stopped:
        print(f"escalation stopped at {stopped[0]}: run the gate for why", file=sys.stderr)
        return 1
    print(f"{len(results)} journal(s) in {args.journals}; run the gate for the verdict")
    return 0


def peak_overrides(
    order: list[str], peak_rps: float | None, capacity_rps: float | None, sets: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each design-peak experiment's own load (``--set`` still wins)."""
    from experiments import catalog
    from experiments.capacity import load_configuration

    if peak_rps is None:
        return {}
    load = {**load_configuration(peak_rps, capacity_rps), "load_basis": "design peak"}
    load = {k: v for k, v in load.items() if k not in sets}
    return {n: dict(load) for n in order if catalog.at_design_peak(n)}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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


def _report(argv: list[str]) -> int:
    from experiments.report_cli import main as report_main

    return report_main(argv)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


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
    run.add_argument(
        "--load-rps",
        type=_positive,
        help="total rate every experiment sends through the router (default: the catalog's)",
    )
    run.add_argument(
        "--capacity-rps", type=_positive, help="measured capacity the load is a share of"
    )
    run.add_argument(
        "--replica-capacity-rps",
        type=_positive,
        help="one replica's share of the measured capacity: zone-loss judges whether the "
        "replicas left carry the load (default: not judged)",
    )
    run.add_argument(
        "--peak-rps",
        type=_positive,
        help="total rate for the experiments that lose capacity (replica, zone): the "
        "design peak (default: --load-rps)",
    )
    run.add_argument("names", nargs="*", help="experiment names (default: all)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration key (blast_replicas, blast_zone, spike_factor, "
        "safeguard_max_p99_ms, …); repeatable",
    )
    run.add_argument(
        "--escalate",
        action="store_true",
        help="run from the smallest blast radius to the largest; stop at the first failure",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be injected where; change nothing",
    )
    run.add_argument(
        "--force",
        metavar="REASON",
        help="run against production outside a window or from an unhealthy steady state; "
        "the reason is recorded in every journal",
    )
    run.set_defaults(func=_run)
    rollback = sub.add_parser("rollback", help="undo what a crashed run left pending")
    rollback.add_argument("--state", required=True, help="rollback state file")
    rollback.set_defaults(func=_rollback)
    sub.add_parser("gate", help="judge journals (see python -m experiments gate --help)")
    sub.add_parser(
        "sensitivity",
        help="run the drill against weakened deployments (see … sensitivity --help)",
    )
    sub.add_parser(
        "report", help="report the latest drill of a history with trends (report --help)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "gate":
        return _gate(argv[1:])
    if argv and argv[0] == "report":
        return _report(argv[1:])
    if argv and argv[0] == "sensitivity":
        from experiments.sensitivity import main as sensitivity_main

        return sensitivity_main(argv[1:])
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except PreflightRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (
        DeploymentError,
        UnknownExperiment,
        BlastRadiusError,
        OverrideError,
        UsageProblem,
        AlarmSourceError,
        StateFileError,
        ChaosException,
        OSError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
