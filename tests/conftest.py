"""Suite-wide hooks: how the integration tests share two workers.

``make test`` runs the integration tests on both cores with ``--dist loadgroup``. Each
test file is one group, so a file's module-scoped environment starts once; the tests
that read the one real catalog run (``catalog_drill``, a session fixture) form a single
group, so the catalog runs once. Tests in a group run one after another on one worker.
"""

from __future__ import annotations

import pytest

CATALOG_GROUP = "catalog-drill"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") is None:
            continue
        if item.get_closest_marker("xdist_group") is not None:
            continue
        fixtures = getattr(item, "fixturenames", ())
        group = CATALOG_GROUP if "catalog_drill" in fixtures else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
