"""The CI workflow's Pulumi steps run with the policy pack enforced (it cannot run here)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _pulumi_steps() -> list[dict]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "drill.yml").read_text())
    return [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("pulumi/actions@")
        and step["with"]["command"] in ("preview", "up")
    ]


def test_preview_and_up_enforce_the_policy_pack() -> None:
    steps = _pulumi_steps()
    assert sorted(s["with"]["command"] for s in steps) == ["preview", "up"]
    for step in steps:
        pack = ROOT / step["with"]["work-dir"] / step["with"]["policyPacks"]
        assert (pack / "PulumiPolicy.yaml").is_file(), pack
        assert (pack / "__main__.py").is_file()
