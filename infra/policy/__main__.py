"""The invariants as a pulumi-policy pack: each one a mandatory StackValidationPolicy.

Values still unknown at preview (ARNs of resources not yet created) raise inside
pulumi-policy's proxy and the policy is reported as not applicable for that preview;
``pulumi up`` validates the final stack with everything known.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.policy.invariants import INVARIANTS, Resources


def as_policy(name: str, invariant: Callable[[Resources], list[str]]) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for problem in invariant(args.resources):
            report_violation(problem, None)

    return StackValidationPolicy(
        name=name,
        description=(invariant.__doc__ or name).strip().splitlines()[0],
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def policies() -> list[StackValidationPolicy]:
    return [as_policy(name, invariant) for name, invariant in INVARIANTS.items()]


if __name__ == "__main__":
    PolicyPack(name="recdrill-resilience", policies=policies())
