"""``python -m bench.safeguard_stop JOURNAL…``: how soon rollbacks start after a safeguard trip.

Reads journals written by ``python -m experiments run`` and prints, for each one the
safeguard stopped, the seconds from the trip (``recdrill-safeguard`` record's ``at``) to
the start of the first rollback action, and to the end of the method's background
recorder. The integration test ``tests/experiments/test_safeguard_integration.py`` leaves
such a journal under its pytest ``--basetemp``. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

RECORDER = "record-timeseries"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 2)


def delays(journal: dict[str, Any]) -> dict[str, Any]:
    """Trip → first rollback start and trip → recorder end, in seconds (None: not there)."""
    record = next(
        (
            e
            for e in journal.get("experiment", {}).get("extensions", [])
            if e.get("name") == "recdrill-safeguard"
        ),
        {},
    )
    tripped = _when(record.get("at")) if record.get("tripped") else None
    rollbacks = journal.get("rollbacks") or []
    first_rollback = _when(rollbacks[0].get("start")) if rollbacks else None
    recorder = next(
        (r for r in journal.get("run", []) if r["activity"].get("name") == RECORDER), {}
    )
    return {
        "tripped": tripped is not None,
        "reason": record.get("reason"),
        "trip_to_rollback_s": _seconds(tripped, first_rollback),
        "trip_to_recorder_end_s": _seconds(tripped, _when(recorder.get("end"))),
        "record_s": journal.get("experiment", {}).get("configuration", {}).get("record_s"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.safeguard_stop", description=__doc__)
    parser.add_argument("journals", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.journals:
        try:
            figures = delays(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        print(
            f"{path}: tripped={figures['tripped']} record_s={figures['record_s']} "
            f"trip->first rollback {figures['trip_to_rollback_s']} s, "
            f"trip->recorder end {figures['trip_to_recorder_end_s']} s "
            f"({figures['reason']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
