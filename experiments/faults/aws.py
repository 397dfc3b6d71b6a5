"""AWS faults through FIS, with the same verbs as the other drivers.

Zone loss on an EKS stack is the stack's own FIS experiment template for that zone (the
AZ power-interruption scenario Pulumi defines in infra/aws/fis.py: the zone's GPU nodes
stopped, its subnets cut off, no new capacity there). ``zone_down`` starts the template
named by ``configuration["fis_templates"][zone]`` and waits until the experiment runs;
``zone_up`` stops it, which starts the nodes again and removes FIS's network ACLs. FIS
itself stops the experiment when the template's CloudWatch alarm fires (the router-SLO
stop condition), independently of this driver.

Region loss on AWS is a drill of the Route 53 steering and has no FIS form either: it
is the kubernetes driver's ``region_down``/``region_up`` on the primary's cluster
(experiments/faults/kubernetes_regions.py), re-exported here so an aws deployment can
name it.

Every other verb has no FIS form and fails saying so: on EKS, pod-level faults and
capacity probes go through the kubernetes driver, store faults through the s3 driver.

The start is recorded in the rollback state file first, with a client token that is also
the experiment's ``recdrill:drill`` tag, so a crashed run can still find and stop exactly
the experiment it started (and never starts one during a rollback).

Tested against moto's FIS (moto 5.2.5: templates, start, get, list, stop, with its
pending -> initiating -> running -> completed progression) over HTTP; moto does not
resolve targets or evaluate stop conditions, so those are FIS's own behaviour.
"""

from __future__ import annotations

import secrets as token_source
import time
from typing import Any, NoReturn

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from experiments import state
from experiments.faults.common import state_file, unsupported
from experiments.faults.kubernetes_regions import (
    region_down,
    region_up,
    restore_replication,
    slow_replication,
)

__all__ = [
    "check_refusal",
    "corrupt_model",
    "freeze_replicas",
    "kill_replicas",
    "ready_capacity",
    "region_down",
    "region_up",
    "restart_replicas",
    "restore_model",
    "restore_replication",
    "restore_store",
    "slow_replication",
    "store_outage",
    "thaw_replicas",
    "wait_for_capacity",
    "wait_for_replacement",
    "wait_for_zone_return",
    "zone_down",
    "zone_hang",
    "zone_up",
]

ZONE_DOWN = "aws.zone_down"
DRILL_TAG = "recdrill:drill"
RUNNING = "running"
LIVE = ("pending", "initiating", "running")
ENDED = ("completed", "stopped", "failed", "cancelled")
_POLL_S = 2.0
_NO_FIS = "FIS has no such action here; use the kubernetes or s3 driver for it on EKS"


def _unsupported(verb: str) -> NoReturn:
    unsupported("aws", verb, _NO_FIS)


def _fis(region: str | None, secrets: Secrets) -> Any:
    """A FIS client; credentials from ``secrets`` when given, else the usual AWS chain."""
    keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
    given = {k: v for k, v in (secrets or {}).items() if k in keys and v}
    return boto3.client("fis", region_name=region, **given)


def _template_id(zone: str, configuration: Configuration) -> str:
    templates = (configuration or {}).get("fis_templates") or {}
    if zone not in templates:
        raise ActivityFailed(
            f"no FIS zone-loss template for zone {zone!r} in the deployment description "
            f"(fis_templates has: {sorted(templates) or 'none'})"
        )
    return str(templates[zone])


def _call(what: str, call: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise ActivityFailed(f"FIS {what}: {exc}") from exc


def _status(experiment: dict[str, Any]) -> tuple[str, str]:
    found = experiment.get("state") or {}
    return str(found.get("status")), str(found.get("reason", ""))


def zone_down(
    zone: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Take a zone down with its FIS template; return once the experiment is running.

    Fails if FIS refuses to start it (a stop-condition alarm already in ALARM, a role
    that cannot act) or it is not running within ``fis_start_timeout_s`` (default 120 s);
    then any experiment it started is stopped before the failure is raised.
    """
    path, template = state_file(configuration), _template_id(zone, configuration)
    region = (configuration or {}).get("aws_region")
    timeout_s = float((configuration or {}).get("fis_start_timeout_s", 120))
    token = token_source.token_hex(16)
    state.record(path, ZONE_DOWN, zone=zone, template_id=template, token=token, region=region)
    fis = _fis(region, secrets)
    started = _call(
        f"start of template {template} ({zone})",
        fis.start_experiment,
        clientToken=token,
        experimentTemplateId=template,
        tags={DRILL_TAG: token, "recdrill:zone": zone},
    )["experiment"]
    experiment_id, began = started["id"], time.monotonic()
    while True:
        status, reason = _status(
            _call(f"experiment {experiment_id}", fis.get_experiment, id=experiment_id)["experiment"]
        )
        if status == RUNNING:
            return {"zone": zone, "template": template, "experiment": experiment_id}
        if status in ENDED:
            raise ActivityFailed(
                f"FIS experiment {experiment_id} for zone {zone} {status} before running: {reason}"
            )
        if time.monotonic() - began >= timeout_s:
            undo_zone_down(zone, template, token, region, secrets)
            raise ActivityFailed(
                f"FIS experiment {experiment_id} for zone {zone} not running within "
                f"{timeout_s:.0f} s (still {status}); stopped it"
            )
        time.sleep(min(_POLL_S, timeout_s / 10))


def _drill_experiments(fis: Any, template_id: str, token: str) -> list[dict[str, Any]]:
    found, next_token = [], None
    while True:
        page = _call(
            f"experiments of template {template_id}",
            fis.list_experiments,
            experimentTemplateId=template_id,
            **({"nextToken": next_token} if next_token else {}),
        )
        found += [
            e for e in page.get("experiments", []) if (e.get("tags") or {}).get(DRILL_TAG) == token
        ]
        next_token = page.get("nextToken")
        if not next_token:
            return found


def undo_zone_down(
    zone: str,
    template_id: str,
    token: str,
    region: str | None = None,
    secrets: Secrets = None,
    timeout_s: float = 300.0,
) -> list[str]:
    """Stop the experiment this drill started (by its token) and wait until it ended;
    never starts anything, so it is safe after a crash at any point of ``zone_down``."""
    fis = _fis(region, secrets)
    stopped = []
    for experiment in _drill_experiments(fis, template_id, token):
        if _status(experiment)[0] in LIVE:
            _call(
                f"stop of experiment {experiment['id']}", fis.stop_experiment, id=experiment["id"]
            )
            stopped.append(experiment["id"])
    began = time.monotonic()
    for experiment_id in stopped:
        while True:
            status, _ = _status(
                _call(f"experiment {experiment_id}", fis.get_experiment, id=experiment_id)[
                    "experiment"
                ]
            )
            if status in ENDED:
                break
            if time.monotonic() - began >= timeout_s:
                raise ActivityFailed(
                    f"FIS experiment {experiment_id} for zone {zone} still {status} "
                    f"{timeout_s:.0f} s after the stop"
                )
            time.sleep(_POLL_S)
    return stopped


def zone_hang(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not a verb of its own on AWS: ``zone_down``'s power interruption already cuts the
    zone's subnets, so its connections hang as a partition's do."""
    _unsupported("zone_hang")


def zone_up(zone: str, configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Stop the zone's FIS experiment(s) this drill started (idempotent)."""
    path, stopped = state_file(configuration), []
    for entry in state.pending(path, ZONE_DOWN):
        if entry["params"]["zone"] == zone:
            stopped += undo_zone_down(**entry["params"], secrets=secrets)
            state.mark_reverted(path, entry["id"])
    return stopped


def kill_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> list[str]:
    """Not on AWS: kill pods with the kubernetes driver."""
    _unsupported("kill_replicas")


def wait_for_replacement(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Not on AWS: the kubernetes driver watches replacements."""
    _unsupported("wait_for_replacement")


def freeze_replicas(
    selector: str, count: int = 1, configuration: Configuration = None, secrets: Secrets = None
) -> Any:
    """Not on AWS: FIS cannot pause one container."""
    _unsupported("freeze_replicas")


def thaw_replicas(configuration: Configuration = None, secrets: Secrets = None) -> Any:
    """Not on AWS: nothing was frozen."""
    _unsupported("thaw_replicas")


def restart_replicas(
    selector: str,
    count: int = 0,
    wait_ready: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[str]:
    """Not on AWS: restart pods with the kubernetes driver."""
    _unsupported("restart_replicas")


def wait_for_zone_return(
    zone: str, timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Not on AWS: the kubernetes driver checks the zone's capacity."""
    _unsupported("wait_for_zone_return")


def store_outage(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Not on AWS: the kubernetes driver cuts the store egress policy."""
    _unsupported("store_outage")


def restore_store(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Not on AWS: nothing was cut here."""
    _unsupported("restore_store")


def corrupt_model(
    version: str = "stable",
    file: str = "model.safetensors",
    mode: str = "silent",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Not on AWS: corrupt the store with the s3 driver."""
    _unsupported("corrupt_model")


def restore_model(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """Not on AWS: restore the store with the s3 driver."""
    _unsupported("restore_model")


def check_refusal(
    timeout_s: float, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Not on AWS: the kubernetes driver reads the replicas."""
    _unsupported("check_refusal")


def ready_capacity(
    selector: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Not on AWS: capacity is the kubernetes driver's."""
    _unsupported("ready_capacity")


def wait_for_capacity(
    selector: str,
    min_per_zone: int,
    timeout_s: float,
    min_total: int = 0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Not on AWS: capacity is the kubernetes driver's."""
    _unsupported("wait_for_capacity")


UNDO = {ZONE_DOWN: undo_zone_down}
