"""A real local environment for the catalog's integration tests, and an honest tiny model.

The tiny model's manifest carries offline metrics measured the way offline evaluation
does it: ranking the held-out pairs with the serving engine itself, so the quality
probe's online/offline comparison is meaningful rather than compared with made-up
numbers. It is also a model the promotion gate lets through (its measured Recall@20 beats
popularity by the gate's factor), so model-rollout can promote a copy of it honestly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from infra.local import procs
from infra.local.config import MARKER_ENV
from model.store import Manifest, open_store
from serving.replica.engine import Query, ServingModel
from tests.factories import publish_artifacts_now, tiny_artifacts
from training.evaluate import pair_hitrates
from training.promote import DEFAULT_POPULARITY_FACTOR, GATE_METRIC

REPO_ROOT = Path(__file__).resolve().parents[2]


def _hit_rate(engine: ServingModel, pairs, k: int = 10) -> float:
    return sum(i in engine.recommend(Query(u, k)).items for u, i in pairs) / len(pairs)


def _gate_accepts(art) -> bool:
    """Whether the promotion gate would accept a copy of ``art`` (same held-out set and
    popular items as its manifest), scored as ``training.promote.check_gate`` does."""
    measured = pair_hitrates(art, art.holdout, art.items[:50])
    model, popularity = measured["model"][GATE_METRIC], measured["popularity"][GATE_METRIC]
    return model >= DEFAULT_POPULARITY_FACTOR * popularity


def publish_evaluated_tiny_model(store_url: str, model: str = "recommender") -> Manifest:
    """Publish and promote a tiny model whose offline hitrate@10 is really measured (> 0)."""
    for seed in range(50):
        art = tiny_artifacts(seed=seed)
        if not _gate_accepts(art):  # the cheaper check first
            continue
        provisional = Manifest(
            {"model": model, "version": "offline", "popular_items": art.items[:50]}
        )
        offline = _hit_rate(ServingModel.build(model, provisional, art), art.holdout)
        if offline >= 0.1:
            break
    popular = art.items[:10]
    popularity = sum(i in popular for _, i in art.holdout) / len(art.holdout)
    metrics = {
        "model": {"hitrate@10": offline, "recall@10": offline, "recall@20": offline},
        "popularity": {"hitrate@10": popularity, "recall@10": popularity, "recall@20": popularity},
    }
    return publish_artifacts_now(
        open_store(store_url), model, art, metrics, f"tiny-evaluated-{seed}"
    )


def run_module(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env,
    )


def _reap(workdir: Path) -> None:
    for pid in procs.pids_with_marker(f"{MARKER_ENV}={workdir.resolve()}\0"):
        procs.signal_group(pid, signal.SIGKILL)


class LocalEnvironment:
    """``python -m infra.local up`` on a fresh store; ``close()`` brings it down for sure."""

    def __init__(self, root: Path, *up_args: str) -> None:
        self.root = root
        self.workdir = root / "env"
        self.store = f"file://{root / 'store'}"
        self.manifest = publish_evaluated_tiny_model(self.store)
        done = run_module(
            "infra.local", "up", "--workdir", str(self.workdir), "--store", self.store, *up_args
        )
        if done.returncode != 0:
            _reap(self.workdir)
            raise RuntimeError(f"infra.local up failed: {done.stderr[-2000:]}")
        self.deployment_file = self.workdir / "deployment.json"

    def run(self, journals: Path, *names: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return run_module(
            "experiments",
            "run",
            "--deployment",
            str(self.deployment_file),
            "--journals",
            str(journals),
            *names,
            timeout=timeout,
        )

    def close(self) -> None:
        try:
            run_module("infra.local", "down", "--workdir", str(self.workdir), timeout=60)
        finally:
            _reap(self.workdir)
