"""The one real catalog run shared by the integration tests that read its journals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.experiments.local_env import LocalEnvironment


@pytest.fixture(scope="session")
def catalog_drill(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalEnvironment, Path, CompletedProcess]]:
    """Every local experiment run once with the real chaos CLI on a real environment.

    The environment is brought down as soon as the catalog is done (its files stay), so
    the tests that read the journals don't hold a dozen idle processes for the session.
    """
    root = tmp_path_factory.mktemp("catalog")
    # A router whose per-try timeout fits inside the 250 ms p99 budget: with the local
    # default (0.25 s) a request that meets the frozen replica of slow-replica alone
    # takes the whole budget (see docs/experiments.md, findings).
    env = LocalEnvironment(root, "--router-try-timeout", "0.1")
    try:
        journals = root / "journals"
        done = env.run(journals)
    finally:
        env.close()
    yield env, journals, done
