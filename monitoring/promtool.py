"""Runs ``promtool`` (from Debian's ``prometheus`` package) on rule files and queries.

Used by the tests and by ``python -m monitoring check``; it is the same tool SREs run, so
a rule that passes here loads in any Prometheus of that version or newer.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

INSTALL_HINT = "install Debian's prometheus package: apt-get install -y prometheus"


class PromtoolMissing(RuntimeError):
    """``promtool`` is not on the PATH."""


@dataclass(frozen=True)
class PromtoolResult:
    ok: bool
    output: str


def promtool_path() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise PromtoolMissing(f"promtool is not on the PATH ({INSTALL_HINT})")
    return found


def _run(*args: str, cwd: Path | None = None, timeout: float = 60.0) -> PromtoolResult:
    proc = subprocess.run(
        [promtool_path(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PromtoolResult(proc.returncode == 0, proc.stdout + proc.stderr)


def check_rules(path: str | Path) -> PromtoolResult:
    """``promtool check rules``: syntax, PromQL and template parsing of a rule file."""
    return _run("check", "rules", str(path))


def test_rules(test_file: str | Path) -> PromtoolResult:
    """``promtool test rules``: the unit tests of one test file, which names its rule files."""
    path = Path(test_file)
    return _run("test", "rules", path.name, cwd=path.parent)


test_rules.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def check_queries(queries: dict[str, str]) -> PromtoolResult:
    """Parses PromQL expressions by checking them as recording rules (promtool has no
    plain query checker offline); ``queries`` maps a name (for messages) to PromQL."""
    rules = [
        {"record": f"check:query_{i}", "expr": expr} for i, expr in enumerate(queries.values())
    ]
    with tempfile.TemporaryDirectory(prefix="promtool-") as tmp:
        path = Path(tmp) / "queries.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
        result = check_rules(path)
    if result.ok:
        return result
    names = ", ".join(queries)
    return PromtoolResult(False, f"queries {names}: {result.output}")
