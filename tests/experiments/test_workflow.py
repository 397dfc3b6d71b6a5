"""The CI workflow cannot run here, so check that it parses and names the right steps."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from experiments.gate import _parser as gate_parser

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "drill.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _job(workflow: dict, name: str) -> dict:
    return workflow["jobs"][name]


def _runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def _index(job: dict, predicate) -> int:
    matches = [i for i, step in enumerate(job["steps"]) if predicate(step)]
    assert matches, "no such step"
    return matches[0]


def _run_index(job: dict, text: str) -> int:
    return _index(job, lambda step: text in step.get("run", ""))


def _uses_index(job: dict, action: str, **with_: str) -> int:
    return _index(
        job,
        lambda step: (
            step.get("uses", "").startswith(action + "@")
            and all(step.get("with", {}).get(k) == v for k, v in with_.items())
        ),
    )


def test_triggers(workflow: dict) -> None:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    triggers = workflow[True]
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]


def test_every_step_is_well_formed(workflow: dict) -> None:
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)*@v\d+", step["uses"]), step["uses"]
            for text in (step.get("run", ""), str(step.get("if", ""))):
                assert text.count("${{") == text.count("}}"), text


def test_pull_requests_run_tests_then_the_drill(workflow: dict) -> None:
    job = _job(workflow, "local-drill")
    assert "pull_request" in job["if"]
    assert _run_index(job, "make test") < _run_index(job, "make drill")
    summary = job["steps"][_run_index(job, "$GITHUB_STEP_SUMMARY")]
    assert summary["if"] == "always()"
    assert 'cat var/drill/summary.md >> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    upload = job["steps"][_uses_index(job, "actions/upload-artifact")]
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert {"var/drill/junit.xml", "var/drill/report.html"} <= set(paths)


def test_push_to_main_deploys_staging_then_drills_it(workflow: dict) -> None:
    job = _job(workflow, "staging-drill")
    assert "github.event_name == 'push'" in job["if"] and "refs/heads/main" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    assert job["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    aws = _uses_index(job, "aws-actions/configure-aws-credentials")
    assert job["steps"][aws]["with"]["role-to-assume"].startswith("${{ secrets.")
    preview = _uses_index(job, "pulumi/actions", command="preview", **{"stack-name": "staging"})
    up = _uses_index(job, "pulumi/actions", command="up", **{"stack-name": "staging"})
    output = _run_index(
        job, "pulumi stack output --json --show-secrets -s staging > deployment.json"
    )
    render = _run_index(
        job, "python -m experiments render --deployment deployment.json --out rendered"
    )
    run = _run_index(
        job, "python -m experiments run --deployment deployment.json --journals journals"
    )
    gate = _run_index(job, "python -m experiments gate")
    summary = _run_index(job, "$GITHUB_STEP_SUMMARY")
    upload = _uses_index(job, "actions/upload-artifact")
    cleanup = _run_index(job, "rm -f deployment.json")
    assert aws < preview < up < output < render < run < gate < summary < upload < cleanup
    assert "always()" in job["steps"][gate]["if"]


def test_gate_command_lines_parse_with_the_gate_cli(workflow: dict) -> None:
    job = _job(workflow, "staging-drill")
    line = job["steps"][_run_index(job, "python -m experiments gate")]["run"]
    argv = shlex.split(line)
    args = gate_parser().parse_args(argv[argv.index("gate") + 1 :])
    assert args.journals == ["journals"]
    assert str(args.slo) == "deployment.json"
    assert {str(args.junit), str(args.report)} == {"drill/junit.xml", "drill/report.html"}
    upload = job["steps"][_uses_index(job, "actions/upload-artifact")]
    assert {str(args.junit), str(args.report)} <= set(upload["with"]["path"].split())


def test_secrets_are_not_uploaded(workflow: dict) -> None:
    staging = _job(workflow, "staging-drill")
    upload = staging["steps"][_uses_index(staging, "actions/upload-artifact")]
    paths = upload["with"]["path"].split()
    assert "deployment.json" not in paths
    assert not any(p.startswith("journals") for p in paths)
    for job in workflow["jobs"].values():
        for run in _runs(job):
            assert "echo ${{ secrets" not in run


def test_the_drill_history_survives_between_runs(workflow: dict) -> None:
    job = _job(workflow, "local-drill")
    restore = _uses_index(job, "actions/cache/restore", path="var/history")
    drill = _run_index(job, "make drill")
    save = _uses_index(job, "actions/cache/save", path="var/history")
    assert restore < drill < save
    assert job["steps"][save]["if"] == "always()"  # a failed drill is history too
    restore_with = job["steps"][restore]["with"]
    assert restore_with["restore-keys"] == "drill-history-"
    assert job["steps"][save]["with"]["key"].startswith("drill-history-")
    assert job["steps"][save]["with"]["key"] != restore_with["key"]  # cache keys are immutable
