"""The HTML drill report: self-contained, plots embedded, hypothesis and faults shown."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from experiments.gate import EXIT_FAIL, main
from tests.experiments.journals import factories as f

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True) for data in _DATA_URI.findall(page)]


def assert_real_pngs(page: str, count: int) -> None:
    """Every embedded image decodes to a non-trivial PNG (a blank figure is ~5 KB)."""
    images = embedded_pngs(page)
    assert len(images) == count
    for image in images:
        assert image.startswith(PNG_MAGIC)
        assert len(image) > 10_000


def _report(tmp_path: Path, *journals: Path) -> str:
    out = tmp_path / "report.html"
    main([*map(str, journals), "--report", str(out)])
    return out.read_text()


def test_report_embeds_one_plot_per_experiment_with_a_series(tmp_path: Path) -> None:
    first = f.write_journal(tmp_path, f.clean_journal(), name="replica-loss")
    f.write_timeseries(first, f.make_timeseries(f.clean_journal()))
    second = f.write_journal(tmp_path, f.clean_journal(), name="zone-loss")
    f.write_timeseries(second, f.make_timeseries(f.clean_journal(), breach_kind="p99"))
    page = _report(tmp_path, first, second)
    assert_real_pngs(page, 2)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count("<section") == 2


def test_missing_series_is_reported_and_fails_the_gate(tmp_path: Path) -> None:
    path = f.write_journal(tmp_path, f.clean_journal(), series=False)
    out = tmp_path / "report.html"
    assert main([str(path), "--report", str(out)]) == EXIT_FAIL
    page = out.read_text()
    assert "Time series missing: time series replica-loss.timeseries.json is missing" in page
    assert embedded_pngs(page) == []


def test_report_shows_hypothesis_injected_faults_and_verdict(tmp_path: Path) -> None:
    journal = f.clean_journal()
    f.after_failed(journal)
    path = f.write_journal(tmp_path, journal)
    f.write_timeseries(path, f.make_timeseries(journal))
    page = _report(tmp_path, path)
    assert "recdrill drill: <span class='verdict fail'>FAILED</span>" in page
    for phase in ("before", "during #1", "after"):
        assert f"<td>{phase}</td><td>availability-within-slo</td>" in page
    assert "<td>0.42<details>" in page  # the failing value after the method, in words
    assert "between 0.999 and 1.0<details>" in page  # the tolerance, in words
    assert "&quot;range&quot;: [\n  0.999," in page  # and its raw JSON, collapsed
    assert "&quot;func&quot;: &quot;kill_replica&quot;" in page
    assert "&quot;zone&quot;: &quot;local-a&quot;" in page  # the fault's arguments
    assert "&quot;token&quot;: &quot;***&quot;" in page
    assert f.SECRET_TOKEN not in page
    assert "record-traffic</td><td>action (background)" in page
    assert "restore-zone" in page
    assert "<b>after</b> · probe &#x27;availability-within-slo&#x27;" in page


def test_report_of_a_corrupt_journal_still_renders(tmp_path: Path) -> None:
    path = tmp_path / "store-outage.json"
    path.write_text("{not json")
    page = _report(tmp_path, path)
    assert "store-outage" in page and "not valid JSON" in page


def test_an_unisolated_run_is_marked_and_an_isolated_one_says_how(tmp_path: Path) -> None:
    unisolated = f.clean_journal()
    unisolated["experiment"]["configuration"].update(
        isolation="none", isolation_note="not isolated: no writable cgroup cpu controller"
    )
    page = _report(tmp_path, f.write_journal(tmp_path, unisolated))
    assert "<strong>Not isolated:</strong> not isolated: no writable cgroup cpu" in page
    isolated = f.clean_journal()
    isolated["experiment"]["configuration"].update(
        isolation="cgroup-v1", isolation_note="cgroup-v1: each replica a node of 80m CPU"
    )
    page = _report(tmp_path, f.write_journal(tmp_path, isolated))
    assert "Not isolated" not in page
    assert "Isolation: cgroup-v1: each replica a node of 80m CPU." in page
