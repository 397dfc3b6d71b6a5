"""``python -m monitoring rules|dashboard --out FILE [--deployment FILE] [--drill]``:
write the rule file or the dashboard JSON, with the SLO and zones of a deployment
description when one is given (else the SLO defaults and no known zones)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from monitoring.dashboard import write_dashboard
from monitoring.rules import write_rules
from monitoring.settings import RuleSettings, RuleSettingsError


class UsageError(Exception):
    """Bad input on the command line (one line, exit 2)."""


def _settings(deployment: Path | None, drill: bool) -> RuleSettings:
    description: dict[str, Any] = {}
    if deployment is not None:
        try:
            description = json.loads(deployment.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"deployment description {deployment}: {exc}") from exc
        if not isinstance(description, dict):
            raise UsageError(f"deployment description {deployment}: expected a JSON object")
    slo = description.get("slo", {})
    zones = description.get("zones", [])
    if not isinstance(slo, dict) or not isinstance(zones, list):
        raise UsageError(f"deployment description {deployment}: 'slo' or 'zones' is malformed")
    try:
        settings = RuleSettings.from_slo(slo, zones=tuple(str(z) for z in zones))
    except (RuleSettingsError, TypeError, ValueError) as exc:
        raise UsageError(f"deployment description {deployment}: {exc}") from exc
    return settings.for_drill() if drill else settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    parser.add_argument("what", choices=("rules", "dashboard"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--deployment", type=Path, help="a deployment description (JSON)")
    parser.add_argument("--drill", action="store_true", help="short hold times for drills")
    args = parser.parse_args(argv)
    try:
        settings = _settings(args.deployment, args.drill)
        writer = write_rules if args.what == "rules" else write_dashboard
        path = writer(args.out, settings)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
