"""Imports flow one way (DESIGN.md): a test fails when one goes against the flow.

contracts and model import nothing of ours; training builds on model; serving on model
and contracts, never on training or experiments; experiments may use everything; only
tests import tests, and only bench and tests import bench. Imports are read with ``ast``
(nothing is imported), including ``importlib.import_module("…")`` with a literal name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Which of our top-level packages each package may import (itself is always allowed).
ALLOWED: dict[str, set[str]] = {
    "contracts": set(),
    "model": set(),
    "training": {"contracts", "model"},
    "serving": {"contracts", "model"},
    "monitoring": {"contracts"},
    "infra": {"contracts", "model", "serving", "monitoring"},
    "experiments": {"contracts", "model", "training", "serving", "infra", "monitoring"},
    "bench": {"contracts", "model", "training", "serving", "infra", "experiments"},
    # The one CLI only dispatches (by module name) to the packages' own command lines.
    "recdrill": set(),
    "tests": {
        "contracts",
        "model",
        "training",
        "serving",
        "infra",
        "experiments",
        "monitoring",
        "bench",
        "recdrill",
    },
}


def our_packages(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(root: Path) -> list[str]:
    """``path:line: pkg imports other`` for every import against the flow under ``root``."""
    packages = our_packages(root)
    unknown = packages - set(ALLOWED)
    found = [f"{name}: a package with no rule in ALLOWED" for name in sorted(unknown)]
    for package in sorted(packages & set(ALLOWED)):
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imported_modules(path.read_text()):
                target = module.split(".")[0]
                if target in packages and target != package and target not in ALLOWED[package]:
                    found.append(f"{path.relative_to(root)}:{line}: {package} imports {module}")
    return found


def test_the_repository_imports_flow_one_way():
    assert violations(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name in ALLOWED:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("rel", "text", "reported"),
    [
        ("serving/app.py", "from training.train import train\n", "serving imports training.train"),
        ("serving/app.py", "import experiments.probes\n", "serving imports experiments.probes"),
        ("model/store.py", "from serving import schema\n", "model imports serving"),
        ("contracts/x.py", "import model.manifest\n", "contracts imports model.manifest"),
        ("training/t.py", "from serving.replica import app\n", "training imports serving.replica"),
        ("infra/x.py", "from tests.factories import moto_s3\n", "infra imports tests.factories"),
        ("experiments/x.py", "import tests\n", "experiments imports tests"),
        ("serving/x.py", "from bench.fixtures import tiny\n", "serving imports bench.fixtures"),
        (
            "experiments/x.py",
            "import importlib\nimportlib.import_module('bench.serving')\n",
            "experiments/x.py:2: experiments imports bench.serving",
        ),
    ],
)
def test_an_import_against_the_flow_is_reported(tmp_path, rel, text, reported):
    found = violations(_tree(tmp_path, {rel: text}))
    assert len(found) == 1 and reported in found[0], found


def test_imports_with_the_flow_and_of_other_libraries_pass(tmp_path):
    root = _tree(
        tmp_path,
        {
            "serving/app.py": "import torch\nfrom model.store import open_store\nfrom . import x\n",
            "training/t.py": "from model import architecture\nimport contracts.deployment\n",
            "experiments/x.py": "from serving.replica import settings\nimport infra.local\n",
            "tests/test_x.py": "from bench.fixtures import tiny\nfrom tests import factories\n",
        },
    )
    assert violations(root) == []


def test_a_new_top_level_package_needs_a_rule(tmp_path):
    root = _tree(tmp_path, {})
    (root / "gateway").mkdir()
    (root / "gateway" / "__init__.py").write_text("")
    assert violations(root) == ["gateway: a package with no rule in ALLOWED"]
