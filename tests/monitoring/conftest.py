"""Shared fixtures: promtool is required in CI and skipped, with a reason, elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest

from monitoring.promtool import INSTALL_HINT


@pytest.fixture
def promtool() -> None:
    """Skips a test that needs promtool when it is absent locally, but fails it in CI
    (``CI=true``): there the rule tests must run, and .ci/run installs promtool."""
    if shutil.which("promtool") is not None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"promtool is missing in CI; .ci/run should have installed it ({INSTALL_HINT})")
    pytest.skip(f"promtool is not on the PATH ({INSTALL_HINT})")
