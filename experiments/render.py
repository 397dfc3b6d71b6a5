"""Render the catalog for one deployment: one experiment JSON each, plus a chaoslib var file.

``chaos run DIR/<name>.json`` works on its own: the configuration carries every
non-secret value of the deployment description and the path of the description, from
which activities read the control token at run time. ``DIR/vars.json`` (mode 0600) is
the same deployment as a chaoslib var file (``{"configuration": …, "secrets": …}``),
for ``chaos run DIR/<name>.json --var-file DIR/vars.json`` to override with.

``overrides`` (``run --set key=value``) change configuration keys before the catalog
builds, so blast-radius parameters shape the experiment; a key the experiment does not
have is refused rather than silently ignored. ``extensions`` (the ``--force`` record)
are added to every experiment and so land in its journal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaoslib.experiment import ensure_experiment_is_valid

from experiments import catalog
from experiments.deployment import configuration_for, load_deployment, var_file_for

VAR_FILE = "vars.json"


class OverrideError(ValueError):
    """A ``--set`` key that the experiment's configuration does not have."""


def render_one(
    name: str,
    deployment: dict[str, Any],
    deployment_file: str | Path,
    overrides: dict[str, Any] | None = None,
    extensions: list[dict[str, Any]] | None = None,
    validate: bool = True,
    checked: frozenset[str] = frozenset(),
) -> dict:
    """Build and (unless ``validate`` is off: chaoslib's check is slow) validate one experiment.

    ``overrides`` (the drill's measured load, ``--set``) replace configuration keys before
    the experiment is built; those named in ``checked`` (``--set``) must be keys it has.
    """
    overrides = overrides or {}
    base = configuration_for(deployment, deployment_file)
    if checked:
        known = catalog.build(name, base)["configuration"]
        unknown = sorted(set(checked) - set(known))
        if unknown:
            raise OverrideError(
                f"--set {', '.join(unknown)}: not a configuration key of {name} "
                f"(known: {', '.join(sorted(known))})"
            )
    body = catalog.build(name, {**base, **overrides})
    body["configuration"].update(overrides)
    if extensions:
        body["extensions"] = [*body.get("extensions", []), *extensions]
    if validate:
        ensure_experiment_is_valid(json.loads(json.dumps(body)))
    return body


def _write(path: Path, data: dict[str, Any], mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def render(
    deployment_file: str | Path,
    out: str | Path,
    names: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    extensions: list[dict[str, Any]] | None = None,
    by_experiment: Mapping[str, dict[str, Any]] | None = None,
) -> list[Path]:
    """Write ``out/<name>.json`` for each experiment (default: all for the platform).
    ``by_experiment`` overrides are one experiment's own (the design peak's load); the
    shared var file leaves their keys out, or it would override them in every run."""
    by_experiment = by_experiment or {}
    deployment = load_deployment(deployment_file)
    wanted = names or catalog.names(deployment["platform"], bool(deployment.get("regions")))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in wanted:
        path = out / f"{name}.json"
        own = {**(overrides or {}), **by_experiment.get(name, {})}
        _write(path, render_one(name, deployment, deployment_file, own, extensions))
        written.append(path)
    var_file = var_file_for(deployment, deployment_file)
    per_experiment = {key for own in by_experiment.values() for key in own}
    shared = {k: v for k, v in (overrides or {}).items() if k not in per_experiment}
    var_file["configuration"].update(shared)
    _write(out / VAR_FILE, var_file, mode=0o600)
    return written
