"""An environment that cannot come up says so at once: ``up`` checks the store and the model
before it starts anything, and gives up when every replica keeps exiting with one error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.local import procs
from infra.local.config import PID_FILE
from infra.local.lifecycle import crash_loop, last_error
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


@pytest.mark.integration
def test_up_gives_up_when_every_replica_keeps_exiting_with_one_error(tmp_path: Path):
    """Replicas that pass the pre-check and still crash on start (here a bad ``RECDRILL_*``
    setting every replica inherits): ``up`` stops long before its timeout, names the error
    from their logs in one line and leaves nothing running."""
    store = publish_store(tmp_path / "store")
    workdir = tmp_path / "env"
    topology = ["--zones", "2", "--replicas-per-zone", "1", "--standby", "0"]
    try:
        result, took = run_up(
            "infra.local",
            workdir,
            *["--store", store, *topology, "--timeout", "150"],
            env={"RECDRILL_MAX_BATCH": "0"},
            timeout=200,
        )
        left = env_pids(workdir)
    finally:
        reap(workdir)
    line = one_line_error(result)
    assert "every replica keeps exiting (with code 2," in line, line
    assert "--max-batch: must be >= 1, got 0" in line, line
    assert took < 75, f"up took {took:.0f} s to give up (timeout 150 s)"
    assert left == [], f"processes left after up gave up: {left}"
    assert not (workdir / PID_FILE).exists()
    assert "restart #2" in (workdir / "logs" / "controller.log").read_text()


def _replicas(workdir: Path, logs: dict[str, str], restarts: int = 2, state: str = "backoff"):
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    for rid, text in logs.items():
        (workdir / "logs" / f"{rid}.log").write_text(text)
    return [{"id": rid, "state": state, "restarts": restarts} for rid in logs]


def test_last_error_reads_json_and_plain_logs(tmp_path: Path):
    log = tmp_path / "r.log"
    log.write_text(
        '{"level": "error", "msg": "cannot bind port 4242"}\n'
        '{"level": "info", "msg": "replica exiting with code 1"}\n'
    )
    assert last_error(log) == "cannot bind port 4242"
    log.write_text("Traceback (most recent call last):\n  File x\nImportError: no module y\n")
    assert last_error(log) == "ImportError: no module y"
    log.write_text('{"level": "info", "msg": "started"}\n')
    assert last_error(log) is None
    assert last_error(tmp_path / "absent.log") is None


def test_crash_loop_only_when_every_replica_exits_with_one_error(tmp_path: Path):
    same = {"a-0": "x: error: port 1111 taken\n", "b-0": "x: error: port 2222 taken\n"}
    assert "x: error: port 1111 taken" in crash_loop(tmp_path, _replicas(tmp_path, same))
    exits = "".join(f"W {r} exited with {c}; restart #2\n" for r, c in (("a-0", 3), ("b-0", 3)))
    (tmp_path / "logs" / "controller.log").write_text(exits)
    line = crash_loop(tmp_path, _replicas(tmp_path, same))
    assert line.startswith("every replica keeps exiting (with code 3, 2 times or more each): x:")
    assert crash_loop(tmp_path, _replicas(tmp_path, same, restarts=1)) is None
    assert crash_loop(tmp_path, _replicas(tmp_path, same, state="ready")) is None
    differ = {"a-0": "x: error: one thing\n", "b-0": "x: error: another\n"}
    assert crash_loop(tmp_path, _replicas(tmp_path, differ)) is None
    silent = {"a-0": "x: error: one thing\n", "b-0": "killed\n"}
    assert crash_loop(tmp_path, _replicas(tmp_path, silent)) is None
