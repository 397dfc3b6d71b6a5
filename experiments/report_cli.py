"""``python -m experiments report --history DIR``: the latest drill's report, with trends.

``make drill`` archives every drill into the history (``record_drill``) and then renders
the report and summary from it, so both compare the drill with the ones before. The
report command renders the same from any history directory, e.g. one CI restored from
its cache. Exit codes: 0 written, 2 bad input (no history, nothing in it, unwritable
output) with a one-line message. The report is not the verdict: the gate is.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.findings import missed_weakening_findings
from experiments.gate import expand_journals
from experiments.gate_outputs import markdown_summary
from experiments.history import KEEP, HistoryError, archive, load_history
from experiments.outcome import Outcome, SloError, build_outcome, load_slo_file
from experiments.report import render_report
from experiments.report_browser import BrowserError, find_chromium, inspect_page
from experiments.report_margins import experiment_row
from experiments.report_trends import LAST_N
from experiments.standby_value import StandbyValue, compare, standby_markdown
from experiments.timeseries import Slo

# The sensitivity matrix's unweakened baseline (experiments.sensitivity.HEALTHY.name; not
# imported, since that module imports the drill, which imports this one).
HEALTHY = "healthy"

HISTORY_ENV = "DRILL_HISTORY"
SCREENSHOT_ENV = "DRILL_SCREENSHOT"
EXIT_OK, EXIT_USAGE = 0, 2


def _outcomes(paths: Sequence[Path], slo: Slo | None) -> list[Outcome]:
    return [build_outcome(path, slo) for path in paths]


def missed_weakenings(path: Path) -> list[str]:
    """Weakenings no experiment caught, from ``sensitivity.json`` (``experiments
    sensitivity``): rows neither caught nor covered by a caught depth pair (``ok``
    false; older files without ``ok``: ``caught`` false), the healthy baseline aside."""
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HistoryError(f"--sensitivity {path} cannot be read as JSON: {exc}") from None
    if not isinstance(rows, list):
        raise HistoryError(f"--sensitivity {path} is not a list of sensitivity rows")
    missed = []
    for row in rows:
        weakening = row.get("weakening") if isinstance(row, dict) else None
        name = weakening.get("name") if isinstance(weakening, dict) else None
        judged = row.get("ok", row.get("caught")) if isinstance(row, dict) else None
        if isinstance(name, str) and name != HEALTHY and judged is False:
            missed.append(name)
    return missed


def write_report(
    history: Path,
    report: Path | None,
    summary: Path | None,
    last_n: int = LAST_N,
    slo: Slo | None = None,
    missed: Sequence[str] = (),
    standby_pair: Path | None = None,
) -> list[Outcome]:
    """Render the latest drill in ``history`` with trends over the last ``last_n``."""
    records = load_history(history)
    if not records:
        raise HistoryError(f"history directory {history} holds no drill (no */figures.json)")
    paths = records[-1].journal_paths()
    if not paths:
        raise HistoryError(f"the latest drill in {history} holds no journals")
    outcomes = _outcomes(paths, slo)
    own = next((p for p in paths if p.name == "zone-loss.json"), None)
    standby = standby_pair_value(own, standby_pair) if own is not None else None
    shown = records[-last_n:]
    extra = missed_weakening_findings(missed)
    try:
        if report is not None:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(render_report(outcomes, shown, extra, standby))
        if summary is not None:
            summary.parent.mkdir(parents=True, exist_ok=True)
            text = markdown_summary(outcomes, shown, extra)
            summary.write_text(text + ("\n" + standby_markdown(standby) if standby else ""))
    except OSError as exc:
        raise HistoryError(f"cannot write the report: {exc}") from None
    return outcomes


def screenshot(report: Path, png: Path) -> None:
    """The report's first screen as a PNG (for the docs)."""
    check = inspect_page(report)
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(check.screenshot)


def record_drill(
    root: Path, expected: Sequence[str] = (), standby_pair: Path | None = None
) -> Path | None:
    """After a drill's gate: archive its journals, then re-render its report and summary
    with trends (and the docs' screenshot when ``$DRILL_SCREENSHOT`` names one and
    chromium is here). ``standby_pair``, a zone-loss journal without the standby, is set
    beside this drill's own zone-loss. Never fails the drill: problems are printed, the
    gate's outputs kept.
    """
    history = Path(os.environ.get(HISTORY_ENV) or root.parent / "history")
    png = os.environ.get(SCREENSHOT_ENV)
    try:
        journals = root / "journals"
        if expected:
            paths = [journals / f"{name}.json" for name in expected]
        else:
            paths = expand_journals([str(journals)])
        rows = [experiment_row(o) for o in _outcomes(paths, None)]
        archived = archive(history, journals, rows, KEEP, expected)
        write_report(history, root / "report.html", root / "summary.md", standby_pair=standby_pair)
        if png and find_chromium() is not None:
            screenshot(root / "report.html", Path(png))
    except Exception as exc:  # the drill's verdict must not depend on its report
        print(f"drill history: not recorded: {exc}", file=sys.stderr)
        return None
    print(f"drill history: {archived}", file=sys.stderr)
    return archived


def standby_pair_value(own: Path, without: Path | None) -> StandbyValue | None:
    """This drill's zone-loss beside ``without``'s, when both are there to read."""
    if without is None or not own.is_file():
        return None
    if not without.is_file():
        print(f"standby comparison: no journal at {without}", file=sys.stderr)
        return None
    try:
        return compare(own, without)
    except (OSError, ValueError, KeyError) as exc:
        print(f"standby comparison: not shown: {exc}", file=sys.stderr)
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments report", description=__doc__)
    parser.add_argument("--history", type=Path, required=True, help="drill history directory")
    parser.add_argument("--out", type=Path, help="write the HTML report here")
    parser.add_argument("--summary", type=Path, help="write the Markdown summary here")
    parser.add_argument("--last", type=int, default=LAST_N, help="drills shown in the trends")
    parser.add_argument("--slo", type=Path, help="deployment description whose 'slo' judges")
    parser.add_argument(
        "--sensitivity",
        type=Path,
        help="sensitivity.json of `experiments sensitivity`: missed weakenings become findings",
    )
    parser.add_argument(
        "--standby-pair",
        type=Path,
        help="a zone-loss journal without the standby (the sensitivity matrix's "
        "no-standby/journals/zone-loss.json), shown beside the drill's own",
    )
    parser.add_argument(
        "--screenshot", type=Path, help="PNG of the report's first screen (needs chromium)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.last < 1:
        print("report: error: --last must be 1 or more", file=sys.stderr)
        return EXIT_USAGE
    out = args.out or (args.history / "report.html")
    try:
        slo = load_slo_file(args.slo) if args.slo else None
        missed = missed_weakenings(args.sensitivity) if args.sensitivity else []
        outcomes = write_report(
            args.history, out, args.summary, args.last, slo, missed, args.standby_pair
        )
    except (HistoryError, SloError) as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"report: {out} ({len(outcomes)} experiments)")
    if args.screenshot is not None:
        if find_chromium() is None:
            print("report: no chromium here: screenshot not taken", file=sys.stderr)
        else:
            try:
                screenshot(out, args.screenshot)
            except (BrowserError, OSError) as exc:
                print(f"report: error: screenshot failed: {exc}", file=sys.stderr)
                return EXIT_USAGE
            print(f"report: screenshot {args.screenshot}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
