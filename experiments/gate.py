"""``python -m experiments gate JOURNAL… [--junit F] [--summary F] [--report F] [--slo F]``.

Exit codes: 0 every experiment passed; 1 some experiment failed (including corrupt,
truncated or missing journals); 2 usage error (no journals given, unwritable output,
unreadable --slo file). A directory argument stands for the journals in it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.gate_outputs import junit_xml, markdown_summary
from experiments.outcome import Outcome, SloChoice, SloError, build_outcome, load_slo_file
from experiments.report import render_report

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# Files the drill keeps beside a journal: the recorder's series and the alert timeline.
_SIDE_SUFFIXES = (".timeseries.json", ".alerts.json")


class UsageError(Exception):
    """Bad command-line use: exit 2 with a one-line message."""


def expand_journals(args: Sequence[str]) -> list[Path]:
    """Journal paths from the arguments; directories expand to their journals.

    Recorder files (``*.timeseries.json``) and alert timelines (``*.alerts.json``) are
    skipped so ``journals/*.json`` works.
    """
    paths: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if not p.name.endswith(_SIDE_SUFFIXES))
            if not found:
                raise UsageError(f"directory {path} holds no journals (*.json)")
            paths += found
        elif not path.name.endswith(_SIDE_SUFFIXES):
            paths.append(path)
    if not paths:
        raise UsageError("no journals given")
    return paths


def _check_writable(path: Path | None, flag: str) -> None:
    if path is None:
        return
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create {parent}: {exc.strerror}") from None
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path} is not writable")


def _write(path: Path, flag: str, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{flag} {path} cannot be written: {exc.strerror}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments gate",
        description="Judge Chaos Toolkit journals; exit 0 only if every experiment passed.",
    )
    parser.add_argument("journals", nargs="*", help="journal files or directories of journals")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument("--summary", type=Path, help="write the Markdown summary here")
    parser.add_argument("--report", type=Path, help="write the HTML report here")
    parser.add_argument(
        "--slo",
        type=Path,
        help="deployment description (or bare SLO object) whose 'slo' block judges recovery; "
        "default: the experiment configuration's literal 'slo', else built-in defaults",
    )
    return parser


def gate(
    journals: Sequence[Path],
    junit: Path | None = None,
    summary: Path | None = None,
    report: Path | None = None,
    slo: SloChoice | None = None,
) -> tuple[int, list[Outcome]]:
    """Judge journals and write the outputs; returns (exit code, outcomes)."""
    for path, flag in ((junit, "--junit"), (summary, "--summary"), (report, "--report")):
        _check_writable(path, flag)
    outcomes = [build_outcome(path, slo) for path in journals]
    if junit is not None:
        _write(junit, "--junit", junit_xml(outcomes))
    if summary is not None:
        _write(summary, "--summary", markdown_summary(outcomes).encode())
    if report is not None:
        _write(report, "--report", render_report(outcomes).encode())
    passed = all(o.verdict.passed for o in outcomes)
    return (EXIT_PASS if passed else EXIT_FAIL), outcomes


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        journals = expand_journals(args.journals)
        slo = load_slo_file(args.slo) if args.slo else None
        code, outcomes = gate(journals, args.junit, args.summary, args.report, slo)
    except (UsageError, SloError) as exc:
        print(f"gate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for outcome in outcomes:
        verdict = outcome.verdict
        print(f"{'PASS' if verdict.passed else 'FAIL'} {verdict.experiment}")
        for failure in verdict.failures:
            print(f"  {failure.phase}: {failure.subject}: {failure.detail}")
    passed = sum(1 for o in outcomes if o.verdict.passed)
    print(f"gate: {passed}/{len(outcomes)} experiments passed", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
