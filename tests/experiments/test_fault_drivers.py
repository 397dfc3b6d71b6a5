"""The fault drivers are interchangeable: same verbs, same parameters, clear refusals."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from chaoslib.exceptions import ActivityFailed

import experiments.catalog
from experiments.faults import DRIVERS, VERBS, driver_for
from experiments.render import render
from experiments.rollback import REVERTERS, _merge
from tests.experiments.fakes import write_deployment

MODULES = {name: importlib.import_module(path) for name, path in DRIVERS.items()}


def _parameters(func) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(func).parameters.values()]


def mismatches(modules: dict[str, ModuleType]) -> list[str]:
    """Every way the drivers differ from the first one (empty when they agree)."""
    (first, reference), *others = modules.items()
    found = []
    for verb in VERBS:
        wanted = _parameters(getattr(reference, verb))
        if [n for n, _ in wanted[-2:]] != ["configuration", "secrets"]:
            found.append(f"{first}.{verb}: configuration and secrets are not last")
        for name, module in others:
            func = getattr(module, verb, None)
            if func is None:
                found.append(f"{name} has no {verb}")
            elif _parameters(func) != wanted:
                found.append(f"{name}.{verb}{_parameters(func)} != {first}.{verb}{wanted}")
    return found


def test_every_driver_has_every_verb_with_the_same_parameters():
    assert mismatches(MODULES) == []
    for name, module in MODULES.items():
        assert sorted(module.__all__) == sorted(VERBS), name
        for verb in VERBS:
            assert inspect.getdoc(getattr(module, verb)), f"{name}.{verb} has no docstring"


def test_the_parity_check_catches_a_driver_that_drifts():
    def kill_replicas(label_selector, ns="recdrill", configuration=None, secrets=None): ...

    drifted = SimpleNamespace(**{v: getattr(MODULES["local"], v) for v in VERBS})
    drifted.kill_replicas = kill_replicas
    missing = SimpleNamespace(**{v: getattr(MODULES["local"], v) for v in VERBS[1:]})
    found = mismatches({"local": MODULES["local"], "drifted": drifted, "missing": missing})
    assert any(f.startswith("drifted.kill_replicas") for f in found), found
    assert "missing has no kill_replicas" in found


@pytest.mark.parametrize(
    ("driver", "verb", "args", "says"),
    [
        ("kubernetes", "freeze_replicas", ("app=x",), "cannot pause a container"),
        ("kubernetes", "thaw_replicas", (), "cannot pause a container"),
        ("file", "kill_replicas", ("app=x",), "has no replicas"),
        ("s3", "zone_down", ("eu-west-1a",), "has no replicas or zones"),
        ("s3", "store_outage", (), "kubernetes driver"),
    ],
)
def test_a_verb_a_platform_cannot_do_fails_naming_why(driver, verb, args, says):
    with pytest.raises(ActivityFailed, match=says):
        getattr(MODULES[driver], verb)(*args, configuration={}, secrets=None)


def test_rollback_merges_every_driver_undo_table_and_refuses_clashes():
    for name, module in MODULES.items():
        for kind, undo in module.UNDO.items():
            assert REVERTERS[kind] is undo, (name, kind)
    with pytest.raises(RuntimeError, match=r"store\.outage"):
        _merge(MODULES["file"].UNDO, {"store.outage": print})


def test_the_catalog_never_forks_on_the_platform():
    catalog_dir = Path(experiments.catalog.__file__).parent
    forks = [
        f"{path.name}:{n}"
        for path in catalog_dir.glob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "platform ==" in line or "platform !=" in line
    ]
    assert forks == []


@pytest.mark.parametrize("platform", ["local", "kubernetes"])
def test_rendered_faults_call_only_their_platform_driver(tmp_path, platform):
    drivers = set(DRIVERS.values())
    for path in render(write_deployment(tmp_path, platform), tmp_path / "out"):
        experiment = json.loads(path.read_text())
        activities = [*experiment["method"], *experiment["rollbacks"]]
        modules = {a["provider"]["module"] for a in activities} & drivers
        assert modules <= {driver_for(platform)}, (path.name, modules)


def test_an_unknown_platform_has_no_driver():
    with pytest.raises(ValueError, match="'mars'"):
        driver_for("mars")
