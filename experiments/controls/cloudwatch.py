"""CloudWatch alarms as a safeguard source: on AWS the stop conditions are alarms.

The EKS stacks define one router-SLO canary alarm per zone (``infra/aws/canary.py``),
the same alarms the FIS zone-loss templates stop on. The safeguard watches them by name
(``safeguard_cloudwatch_alarms``) or by name prefix (``safeguard_cloudwatch_alarm_prefix``)
and trips when any is in ``ALARM``, with the alarm's name and CloudWatch's reason.

Credentials and region come from the usual boto3 chain (``AWS_PROFILE``, the environment,
the instance role; ``AWS_ENDPOINT_URL`` for a stand-in such as moto), the region
overridable with ``safeguard_cloudwatch_region``. Every way of being misconfigured (no
region, no credentials, a name CloudWatch does not have, a prefix matching nothing) is an
:class:`AlarmSourceError` with one line saying which: a safeguard that silently watches
nothing would let a drill run blind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

__all__ = ["AlarmSource", "AlarmSourceError", "alarm_names"]

ALARM = "ALARM"
_MAX_NAMES_PER_CALL = 100  # DescribeAlarms' limit on AlarmNames


class AlarmSourceError(ValueError):
    """The CloudWatch alarm source cannot be watched; the message says why, on one line."""


def alarm_names(value: Any) -> tuple[str, ...]:
    """Alarm names from configuration: a list, or one comma-separated string."""
    if value in (None, ""):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise AlarmSourceError(
            f"safeguard_cloudwatch_alarms must be a list of alarm names, got {value!r}"
        )
    return tuple(dict.fromkeys(i.strip() for i in items if i.strip()))


@dataclass
class AlarmSource:
    """Named alarms and/or every alarm under a name prefix, in one region."""

    names: tuple[str, ...] = ()
    prefix: str = ""
    region: str | None = None
    _client: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.names and not self.prefix:
            raise AlarmSourceError("CloudWatch safeguard: give alarm names or a name prefix")

    def describe(self) -> str:
        what = [*self.names, *([f"{self.prefix}*"] if self.prefix else [])]
        return f"CloudWatch alarm(s) {', '.join(what)}"

    def states(self) -> list[dict[str, str]]:
        """Every watched alarm's name, state and reason; raises when one is unknown."""
        client = self.client()
        found: dict[str, dict[str, str]] = {}
        try:
            for start in range(0, len(self.names), _MAX_NAMES_PER_CALL):
                chunk = list(self.names[start : start + _MAX_NAMES_PER_CALL])
                found.update(self._pages(client, AlarmNames=chunk))
            by_prefix = self._pages(client, AlarmNamePrefix=self.prefix) if self.prefix else {}
        except NoCredentialsError:
            raise AlarmSourceError(
                "CloudWatch safeguard: no AWS credentials (set AWS_PROFILE or the AWS_* "
                "environment variables)"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AlarmSourceError(
                f"CloudWatch safeguard: DescribeAlarms refused in {client.meta.region_name}: "
                f"{error.get('Code', '?')}: {error.get('Message', exc)}"
            ) from None
        except BotoCoreError as exc:
            raise AlarmSourceError(f"CloudWatch safeguard: {exc}") from None
        missing = [n for n in self.names if n not in found]
        if missing:
            raise AlarmSourceError(
                f"CloudWatch safeguard: no alarm named {', '.join(missing)} in "
                f"{client.meta.region_name}"
            )
        if self.prefix and not by_prefix:
            raise AlarmSourceError(
                f"CloudWatch safeguard: no alarm name starts with {self.prefix!r} in "
                f"{client.meta.region_name}"
            )
        return list({**found, **by_prefix}.values())

    def in_alarm(self) -> list[dict[str, str]]:
        """The watched alarms now in ``ALARM``, each with CloudWatch's reason."""
        return [a for a in self.states() if a["state"] == ALARM]

    def client(self) -> Any:
        """One client per source: the credential chain is resolved once, not per window."""
        if self._client is not None:
            return self._client
        import boto3  # here: the CLI imports this module for its error type alone

        try:
            self._client = boto3.client("cloudwatch", region_name=self.region or None)
            return self._client
        except NoRegionError:
            raise AlarmSourceError(
                "CloudWatch safeguard: no AWS region (set AWS_REGION or AWS_DEFAULT_REGION, "
                "or --set safeguard_cloudwatch_region=…)"
            ) from None

    @staticmethod
    def _pages(client: Any, **query: Sequence[str] | str) -> dict[str, dict[str, str]]:
        alarms: dict[str, dict[str, str]] = {}
        for page in client.get_paginator("describe_alarms").paginate(
            AlarmTypes=["MetricAlarm", "CompositeAlarm"], **query
        ):
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                alarms[alarm["AlarmName"]] = {
                    "name": alarm["AlarmName"],
                    "state": alarm.get("StateValue", ""),
                    "reason": alarm.get("StateReason", ""),
                }
        return alarms
