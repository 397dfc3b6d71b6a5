"""The gate's JUnit XML and Markdown summary, and the redaction of secrets in every output."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from experiments.gate import EXIT_FAIL, EXIT_PASS, main
from tests.experiments.journals import factories as f


def _gate(tmp_path: Path, *journals: Path) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = main(
        [
            *map(str, journals),
            "--junit",
            str(out / "junit.xml"),
            "--summary",
            str(out / "summary.md"),
            "--report",
            str(out / "report.html"),
        ]
    )
    return code, out


def _two_journals(tmp_path: Path) -> tuple[Path, Path]:
    good = f.write_journal(tmp_path, f.clean_journal(), name="replica-loss")
    f.write_timeseries(good, f.make_timeseries(f.clean_journal()))
    bad_journal = f.clean_journal()
    f.method_action_failed(bad_journal)
    return good, f.write_journal(tmp_path, bad_journal, name="zone-loss", series=False)


def test_junit_has_one_case_per_experiment_and_the_failure(tmp_path: Path) -> None:
    code, out = _gate(tmp_path, *_two_journals(tmp_path))
    assert code == EXIT_FAIL
    root = ET.parse(out / "junit.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    [suite] = root.findall("testsuite")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"replica-loss", "zone-loss"}
    assert cases["replica-loss"].find("failure") is None
    failure = cases["zone-loss"].find("failure")
    assert failure is not None
    assert failure.get("type") == "method-failed"
    assert "zone-loss: method: activity 'kill-replica'" in failure.get("message")
    assert "no replica to kill" in failure.text
    assert float(cases["replica-loss"].get("time")) > 0


def test_markdown_summary_table_and_failures(tmp_path: Path) -> None:
    _, out = _gate(tmp_path, *_two_journals(tmp_path))
    md = (out / "summary.md").read_text()
    assert "FAILED (1/2 experiments passed)" in md
    assert "| experiment | verdict | availability | p99 | degraded | recovery time |" in md
    rows = [line for line in md.splitlines() if line.startswith("| replica") or "zone" in line]
    good = next(r for r in rows if r.startswith("| replica-loss"))
    assert "✅ pass" in good and "% |" in good and " s |" in good
    bad = next(r for r in rows if r.startswith("| zone-loss"))
    assert "❌ fail" in bad and "no time series" in bad
    assert "### Failures" in md
    assert "**zone\\-loss** · method · activity 'kill\\-replica'" not in md  # '-' is not escaped
    assert "**zone-loss** · method · activity 'kill-replica': status failed" in md
    assert "time series zone-loss.timeseries.json is missing" in md


def test_journal_text_is_inert_in_markdown_and_html(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.method_action_failed(journal)
    journal["run"][1]["exception"] = f.exception_lines("<script>alert(1)</script> | `x` [l](u)")
    journal["run"][1]["activity"]["name"] = "<img src=x onerror=alert(2)>"
    code, out = _gate(tmp_path, f.write_journal(tmp_path, journal))
    assert code == EXIT_FAIL
    md = (out / "summary.md").read_text()
    page = (out / "report.html").read_text()
    for text in (md, page):
        assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\| \\`x\\` \\[l\\](u)" in md
    assert "&lt;img src=x onerror=alert(2)&gt;" in page


def test_secrets_never_reach_any_output(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.method_action_failed(journal)
    journal["run"][1]["exception"] = f.exception_lines(f"401 with token {f.SECRET_TOKEN}")
    path = f.write_journal(tmp_path, journal)
    assert f.SECRET_TOKEN in path.read_text()
    _, out = _gate(tmp_path, path)
    for name in ("junit.xml", "summary.md", "report.html"):
        text = (out / name).read_text()
        assert f.SECRET_TOKEN not in text, name
    assert "401 with token ***" in (out / "junit.xml").read_text()


def test_recovery_over_the_rto_fails_and_is_flagged(tmp_path: Path) -> None:
    journal = f.clean_journal()
    journal["experiment"]["configuration"]["slo"]["rto_s"] = 1
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, f.make_timeseries(journal, breach=(0.3, 1.5)))
    code, out = _gate(tmp_path, path)
    summary = (out / "summary.md").read_text()
    assert code == EXIT_FAIL
    assert "| replica-loss | ❌ fail |" in summary
    assert "| 1.5 s (over the 1 s RTO) |" in summary
    assert "recovered after 1.5 s, over the 1 s RTO" in summary
    journal["experiment"]["configuration"]["slo"]["rto_s"] = 30
    f.write_journal(tmp_path, journal, series=False)
    code, out = _gate(tmp_path, path)
    assert code == EXIT_PASS
    assert "| 1.5 s |" in (out / "summary.md").read_text()


def test_a_series_that_never_recovers_fails(tmp_path: Path) -> None:
    journal = f.clean_journal()
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, f.make_timeseries(journal, breach=(0.3, None)))
    code, out = _gate(tmp_path, path)
    assert code == EXIT_FAIL
    assert "did not recover before the series ended" in (out / "summary.md").read_text()


def test_a_series_that_ends_before_the_fault_fails(tmp_path: Path) -> None:
    journal = f.clean_journal()
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, f.make_timeseries(journal, breach=None, lead_s=2.0, length_s=2.5))
    code, out = _gate(tmp_path, path)
    assert code == EXIT_FAIL
    assert "before the fault started" in (out / "summary.md").read_text()
    f.write_timeseries(path, f.make_timeseries(journal, breach=None, lead_s=2.0, length_s=3.5))
    assert _gate(tmp_path, path)[0] == EXIT_PASS


def test_a_missing_series_fails_the_gate(tmp_path: Path) -> None:
    path = f.write_journal(tmp_path, f.clean_journal(), series=False)
    code, out = _gate(tmp_path, path)
    assert code == EXIT_FAIL
    assert (
        "recovery · time series: time series replica-loss.timeseries.json is missing"
        in (out / "summary.md").read_text()
    )
