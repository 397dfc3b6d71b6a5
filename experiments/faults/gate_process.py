"""The promotion gate as the control plane's work: a process of its own, in its own CPU.

On a cluster the gate's evaluation runs in the CI job, not beside the serving replicas
or the load generator. Locally the chaos process is the load generator and the recorder,
so the gate (a model evaluation: seconds of CPU) runs as ``python -m training promote``
and joins the environment's ``control`` group, where its CPU is reserved apart from the
replicas', the router's and the drill's. Its verdict comes back as the command's exit
code: 0 promoted, ``EXIT_REFUSED`` refused (the message on stderr), anything else an error.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

from chaoslib.types import Configuration, Secrets

from experiments.deployment import control_token
from infra.local.client import ControlClient
from model.store import StoreError
from training.cli import EXIT_REFUSED
from training.promote import PromotionRefused

__all__ = ["gate_promote"]

log = logging.getLogger("chaostoolkit")
GATE_TIMEOUT_S = 600.0


def gate_promote(
    store_url: str,
    model: str,
    version: str,
    reason: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Promote ``version`` through the gate in a process of its own; returns the alias.
    Raises ``PromotionRefused`` when the gate refuses, ``StoreError`` on any other failure."""
    argv = [sys.executable, "-m", "training", "promote", "--store", store_url]
    argv += ["--model", model, "--version", version]
    if reason:
        argv += ["--reason", reason]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _join_control(proc.pid, configuration, secrets)
    try:
        out, err = proc.communicate(timeout=GATE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise StoreError(f"the promotion gate took over {GATE_TIMEOUT_S:g} s") from None
    message = _last_line(err) or f"exit {proc.returncode}"
    if proc.returncode == EXIT_REFUSED:
        raise PromotionRefused(message.removeprefix("refused: "))
    if proc.returncode != 0:
        raise StoreError(f"the promotion gate failed: {message.removeprefix('error: ')}")
    try:
        return json.loads(_last_line(out))
    except ValueError as exc:
        raise StoreError(f"the promotion gate printed no alias: {out[-200:]!r}") from exc


def _join_control(pid: int, configuration: Configuration, secrets: Secrets) -> None:
    """Into the local environment's control group, where there is one (elsewhere the gate
    already runs apart from serving)."""
    url = (configuration or {}).get("control_url")
    if not url:
        return
    try:
        with ControlClient(str(url), control_token(configuration, secrets), timeout=10) as c:
            c.join("control", pid)
    except Exception as exc:
        log.warning(f"the promotion gate runs outside the control group: {exc}")


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
