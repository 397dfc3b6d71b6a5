"""Shared fixtures: promtool is required in CI and skipped, with a reason, elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest

from monitoring.promtool import INSTALL_HINT


def _require(binary: str) -> None:
    """Skips a test whose tool is absent locally, but fails it in CI (``CI=true``): there
    the monitoring tests must run, and .ci/run installs Debian's prometheus package."""
    if shutil.which(binary) is not None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{binary} is missing in CI; .ci/run should have installed it ({INSTALL_HINT})")
    pytest.skip(f"{binary} is not on the PATH ({INSTALL_HINT})")


@pytest.fixture
def promtool() -> None:
    _require("promtool")


@pytest.fixture
def prometheus() -> None:
    _require("prometheus")
