"""An environment that cannot come up says so at once: ``up`` checks the store and the model
before it starts anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local import procs
from model.store import open_store
from tests.factories import publish_tiny_model
from tests.infra.local.conftest import REPO_ROOT, env_pids, publish_store

ENTRY_POINTS = {"infra.local": ("infra.local",), "recdrill env": ("recdrill", "env")}


def run_up(entry: str, workdir: Path, *args: str, env: dict[str, str] | None = None, timeout=60):
    """``up`` through one of its entry points; (the completed process, seconds it took)."""
    argv = [sys.executable, "-m", *ENTRY_POINTS[entry], "up", "--workdir", str(workdir), *args]
    started = time.monotonic()
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
    )
    return result, time.monotonic() - started


def reap(workdir: Path) -> None:
    """Kill whatever a failed test left of the environment (``up`` may have started it)."""
    for pid in env_pids(workdir):
        procs.signal_group(pid, signal.SIGKILL)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert result.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with ``recommender`` at stable and ``unpromoted``, published but never promoted."""
    url = publish_store(tmp_path_factory.mktemp("failfast") / "store")
    publish_tiny_model(open_store(url), "unpromoted", seed=1, promote=False)
    return url


# case: (up's arguments, what its error line must name); {store} is a published store,
# {missing} a file:// directory that does not exist
BAD_INPUTS = {
    "bogus-protocol": (["--store", "bogus://x"], ["bogus://x", "Protocol not known: bogus"]),
    "missing-directory": (["--store", "{missing}"], ["{missing}", "does not exist"]),
    "unknown-model": (
        ["--store", "{store}", "--model", "nosuchmodel"],
        ["'nosuchmodel' has no published version in {store}", "python -m training train"],
    ),
    "no-stable-alias": (
        ["--store", "{store}", "--model", "unpromoted"],
        ["'unpromoted' has no alias 'stable' in {store}", "python -m training promote"],
    ),
    "two-regions": (
        ["--store", "{store}", "--model", "nosuchmodel", "--regions", "2"],
        ["'nosuchmodel' has no published version"],
    ),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_a_bad_store_or_model_fails_before_anything_starts(
    tmp_path: Path, store_url: str, entry: str, case: str
):
    values = {"store": store_url, "missing": f"file://{tmp_path / 'no-such-store'}"}
    args, named = ([part.format(**values) for part in parts] for parts in BAD_INPUTS[case])
    workdir = tmp_path / "env"
    try:
        result, took = run_up(entry, workdir, *args, timeout=30)
        left = env_pids(workdir)
    finally:
        reap(workdir)
    line = one_line_error(result)
    for part in named:
        assert part in line, line
    assert took < 10, f"took {took:.1f} s"
    assert left == [] and not workdir.exists(), "nothing was started, not even the workdir"
