"""``recdrill SUBCOMMAND …``: one CLI over the module CLIs, so users need not know the layout.

Each subcommand hands its remaining arguments to the module that owns it; ``python -m …``
keeps working and means exactly the same thing. Modules are imported only when chosen, so
``recdrill --help`` stays fast and a broken optional dependency names itself.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """A subcommand: the module whose ``main(argv)`` runs it, and arguments put in front."""

    module: str
    prefix: tuple[str, ...]
    help: str


COMMANDS: dict[str, Command] = {
    "train": Command("training.cli", ("train",), "train, evaluate and publish a model version"),
    "evaluate": Command("training.cli", ("evaluate",), "evaluate a published version"),
    "versions": Command("training.cli", ("versions",), "list a model's versions and aliases"),
    "promote": Command("training.cli", ("promote",), "promote a version through the gate"),
    "rollback": Command("training.cli", ("rollback",), "move 'stable' back to 'previous'"),
    "verify": Command("training.cli", ("verify",), "check a version's checksums"),
    "env": Command("infra.local.__main__", (), "the local environment: up, status, down"),
    "experiments": Command("experiments.cli", (), "chaos experiments: render, run, rollback, gate"),
    "monitoring": Command(
        "monitoring.__main__", (), "write the Prometheus rules or the Grafana dashboard"
    ),
    "drill": Command("experiments.drill", (), "the whole drill: env up, catalog, gate, report"),
    "bench": Command("", (), "benchmarks: serving, training, zone-loss, capacity-scaling"),
}
BENCHES: dict[str, str] = {
    "serving": "bench.serving",
    "training": "bench.training",
    "zone-loss": "bench.zone_loss",
    "capacity-scaling": "bench.capacity_scaling",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {cmd.help}" for name, cmd in COMMANDS.items())
    return (
        "usage: recdrill SUBCOMMAND [ARGS…]\n\n"
        f"subcommands:\n{rows}\n\n"
        "'recdrill SUBCOMMAND --help' shows a subcommand's own options."
    )


def resolve(argv: Sequence[str]) -> tuple[str, list[str]]:
    """The module to run and the argv to give its ``main``; ValueError names a bad choice."""
    if not argv:
        raise ValueError("a subcommand is required")
    name, rest = argv[0], list(argv[1:])
    if name not in COMMANDS:
        raise ValueError(f"unknown subcommand {name!r}; choose from {', '.join(COMMANDS)}")
    if name == "bench":
        if not rest or rest[0] not in BENCHES:
            raise ValueError(f"'recdrill bench' needs one of: {', '.join(BENCHES)}")
        return BENCHES[rest[0]], rest[1:]
    cmd = COMMANDS[name]
    return cmd.module, [*cmd.prefix, *rest]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    try:
        module, rest = resolve(argv)
    except ValueError as exc:
        print(f"recdrill: error: {exc}\n\n{usage()}", file=sys.stderr)
        return 2
    return int(importlib.import_module(module).main(rest) or 0)
