"""Child processes that can never outlive their parent, free ports, and /proc look-ups.

Each child gets its own process group (so a signal reaches anything it forks) and
``PR_SET_PDEATHSIG = SIGKILL`` (so a SIGKILLed controller takes its children with it).
PDEATHSIG fires when the *thread* that forked the child exits, so children must be
spawned from a long-lived thread: the controller spawns from its event-loop thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1
SIGNALS = {
    "TERM": signal.SIGTERM,
    "KILL": signal.SIGKILL,
    "STOP": signal.SIGSTOP,
    "CONT": signal.SIGCONT,
}


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL this child when its parent goes away."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _preexec(tie_to_parent: bool, nice: int, cgroup_procs: Sequence[str] = ()):
    def run() -> None:
        if tie_to_parent:
            _die_with_parent()
        for procs_file in cgroup_procs:  # joined before exec: nothing runs outside its group
            with open(procs_file, "w") as fh:
                fh.write(str(os.getpid()))
        if nice:
            os.nice(nice)
            _set_autogroup_nice("self", nice)

    return run if tie_to_parent or nice or cgroup_procs else None


def _set_autogroup_nice(pid: int | str, nice: int) -> bool:
    """With sched_autogroup each session is scheduled as a group, so a thread's nice value
    only counts inside its own session: the group's nice is what competes with others."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
        return True
    except OSError:
        return False


def renice(pid: int, nice: int = 0) -> bool:
    """Set the nice value of every thread of ``pid`` (Linux nice is per thread); False when
    not permitted (lowering a nice value needs CAP_SYS_NICE) or the process is gone."""
    try:
        tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return False
    done = _set_autogroup_nice(pid, nice) or not Path(f"/proc/{pid}/autogroup").exists()
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        except (PermissionError, ProcessLookupError):
            done = False
    return done


def can_restore_priority() -> bool:
    """Whether this process may lower a nice value again (root, or RLIMIT_NICE allows 0):
    without that, a process started at a low priority would stay there for good."""
    if os.geteuid() == 0:
        return True
    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    return soft == resource.RLIM_INFINITY or soft >= 20


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the child binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    tie_to_parent: bool = True,
    nice: int = 0,
    pipes: bool = False,
    cgroup_procs: Sequence[str] = (),
) -> subprocess.Popen:
    """Start ``argv`` in a new session, stdout/stderr appended to ``log_path`` and stdin
    /dev/null; with ``pipes``, stdin and stdout are pipes to the caller instead. The child
    writes itself into each of ``cgroup_procs`` (``cgroup.procs`` files) before it execs."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log if pipes else subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_preexec(tie_to_parent, nice, tuple(cgroup_procs)),
            close_fds=True,
        )


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``; False if it is already gone."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            return True
        return False


def process_state(pid: int) -> str | None:
    """The one-letter state from /proc/<pid>/stat (R, S, T, Z…), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    state = process_state(pid)
    return state is not None and state not in ("Z", "X")


def pids_with_marker(marker: str) -> list[int]:
    """Live pids whose environment or command line holds ``marker`` (a /proc scan)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            blob = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if marker.encode() in blob and alive(pid):
            found.append(pid)
    return sorted(found)


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    """Wait until none of ``pids`` is alive; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
