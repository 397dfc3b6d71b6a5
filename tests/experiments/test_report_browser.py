"""The report as a person sees it: headless Chromium loads it, nothing breaks or leaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.gate import main as gate_main
from experiments.report_browser import find_chromium, inspect_page
from tests.experiments.journals import factories as f

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no chromium installed")

RECORDED = Path(__file__).parent / "journals" / "recorded_drill"


def _recorded_report(tmp_path: Path) -> tuple[Path, list[str]]:
    """The report of a recorded real local drill (journals and recorder series as written)."""
    names = sorted(
        p.name[: -len(".json")]
        for p in RECORDED.glob("*.json")
        if not p.name.endswith(".timeseries.json")
    )
    out = tmp_path / "report.html"
    gate_main([str(RECORDED), "--report", str(out)])
    return out, names


def _page(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "page.html"
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    )
    return path


def test_a_real_drill_report_shows_verdict_and_every_row_on_the_first_screen(
    tmp_path: Path,
) -> None:
    report, names = _recorded_report(tmp_path)
    assert len(names) >= 5
    check = inspect_page(report)
    assert check.console_errors == []
    assert check.external_requests == []
    assert check.verdict is not None and check.verdict.split(":")[-1].strip() in (
        "PASSED",
        "FAILED",
    )
    assert check.rows_on_first_screen == names
    assert check.screenshot.startswith(b"\x89PNG")


def test_the_check_sees_console_errors_and_network_requests(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "<script>console.error('boom')</script><img src='http://127.0.0.1:9/tracker.png'>",
    )
    check = inspect_page(page)
    assert any("boom" in e for e in check.console_errors)
    assert check.external_requests == ["http://127.0.0.1:9/tracker.png"]


def test_the_check_sees_a_summary_pushed_below_the_first_screen(tmp_path: Path) -> None:
    journal = f.clean_journal()
    path = f.write_journal(tmp_path, journal)
    out = tmp_path / "report.html"
    gate_main([str(path), "--report", str(out)])
    page = out.read_text().replace("<body>", "<body><div style='height:3000px'></div>", 1)
    (tmp_path / "pushed.html").write_text(page)
    check = inspect_page(tmp_path / "pushed.html")
    assert check.verdict is None and check.rows_on_first_screen == []
    assert inspect_page(out).rows_on_first_screen == ["replica-loss"]
