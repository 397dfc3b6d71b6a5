"""``up``'s tuning flags refuse bad values with one line, before anything starts."""

from __future__ import annotations

import pytest

from tests.infra.local.conftest import cli


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--warm-pool", "-1", "--warm-pool"),
        ("--model-poll-interval", "0.01", "--model-poll-interval"),
        ("--replica-poll-interval", "0", "--model-poll-interval"),
    ],
)
def test_bad_tuning_values_are_one_line_errors(tmp_path, flag, value, named):
    result = cli("up", "--workdir", str(tmp_path / "env"), "--store", "file:///nope", flag, value)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("error:") and "\n" not in line and "Traceback" not in line
    assert named in line
    assert not (tmp_path / "env" / "controller.pid").exists(), "nothing was started"
