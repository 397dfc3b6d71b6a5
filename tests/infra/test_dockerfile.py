"""The serving image definition: slim base, requirements, non-root, replica by default."""

from __future__ import annotations

import json
import re
from pathlib import Path

from infra.k8s.pods import RUN_AS

ROOT = Path(__file__).resolve().parents[2]


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "serving" / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_base_install_user_and_default_command() -> None:
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [arg for op, arg in steps if op == "RUN"]
    assert any("pip install" in r and "-r requirements.txt" in r for r in runs)
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].split(":")[0] == str(RUN_AS)
    (cmd,) = [json.loads(re.sub(r"\s+", " ", arg)) for op, arg in steps if op == "CMD"]
    assert cmd[:3] == ["python", "-m", "serving.replica"]


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".venv", ".git", "var/", "tests/"):
        assert entry in ignored
