"""``python -m infra.local.warm``: a replica process started before it is needed.

On one machine, a replacement replica's start-up (importing torch and the app, several
seconds of CPU) competes with the replicas serving traffic; in a cluster it would run on
another node. The controller therefore keeps a few of these processes warm at the lowest
CPU priority: each has imported the replica's code and waits for one order on stdin, a
JSON line ``{"argv": [...], "log": path}``. It then sends its output to the slot's log and
runs ``serving.replica`` with that argv, in this same process (same pid, process group and
parent-death signal). The model itself is fetched, verified and loaded only then, as a new
pod would. Before waiting, it rehearses the model code on a throw-away tiny model: building
a model on torch's ``meta`` device imports ``torch._dynamo`` lazily (about as much CPU as
importing torch), and first forward passes initialise torch's kernels. Once warm it writes
``ready`` on stdout, a pipe to the controller, so the pool can say
how many of its members are warm. A closed stdin (the controller shutting the pool) ends
the process with exit code 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import torch

from infra.local.warm_pool import READY
from model.architecture import ModelConfig, TwoTower
from serving.replica import server  # the expensive part: torch, the model code, uvicorn

ORDER_KEYS = ("argv", "log")


def read_order(line: str) -> tuple[list[str], str]:
    """The argv and log path from one order line; ValueError names what is wrong."""
    try:
        order = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"order is not JSON: {exc}") from None
    if not isinstance(order, dict) or set(order) != set(ORDER_KEYS):
        raise ValueError(f"order must be an object with exactly {ORDER_KEYS}")
    argv, log = order["argv"], order["log"]
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("order 'argv' must be a list of strings")
    if not isinstance(log, str) or not log:
        raise ValueError("order 'log' must be a path")
    return argv, log


def _redirect_output(log: str) -> None:
    """Point fds 1 and 2 at the slot's log, as a cold-started replica's would be."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def rehearse() -> None:
    """Run the replica's model code once on a tiny random model, so its lazy imports and
    first-call set-up happen now, at the pool's low priority, instead of after the fault."""
    config = ModelConfig(n_users=3, n_items=5, n_categories=2, n_brands=2, dim=8, hidden=8)
    with torch.device("meta"):
        TwoTower(config)  # the replica builds its model this way (no random init)
    model = TwoTower(config).eval()
    ids = torch.tensor([1, 2])
    with torch.inference_mode():
        items = model.item_vectors(ids, ids % 2, ids % 2)
        users = model.user_vectors(ids, torch.tensor([[1, 0], [2, 3]]))
        torch.topk(users @ items.T, k=1, dim=1)


def main() -> int:
    rehearse()
    with contextlib.suppress(BrokenPipeError):  # taken before it was warm: nobody listens
        sys.stdout.buffer.write(READY)
        sys.stdout.flush()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    try:
        argv, log = read_order(line)
    except ValueError as exc:
        print(f"infra.local.warm: {exc}", file=sys.stderr)
        return 2
    _redirect_output(log)
    print(f"warm process {os.getpid()} starts serving.replica {' '.join(argv)}", flush=True)
    return server.main(argv)


if __name__ == "__main__":
    sys.exit(main())
