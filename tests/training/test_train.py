"""Training: the in-batch loss, checkpoints per epoch, resuming, and real 2-process DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from model.architecture import ModelConfig, TwoTower
from training.synthetic import generate_shop
from training.train import CheckpointError, in_batch_loss, load_checkpoint, train

TINY = {"dim": 16, "hidden": 32, "history_len": 5, "batch_size": 128, "threads": 1}


@pytest.fixture(scope="module")
def shop():
    return generate_shop(n_interactions=6_000, n_items=400, n_categories=20, seed=3)


def _tiny_model() -> TwoTower:
    torch.manual_seed(0)
    return TwoTower(ModelConfig(n_users=5, n_items=6, n_categories=3, n_brands=3, dim=8, hidden=8))


def test_in_batch_loss_masks_accidental_hits_and_corrects_log_q():
    model = _tiny_model()
    users, items = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 4])  # item 4 appears twice
    history = torch.tensor([[1, 0], [2, 3], [0, 0]])
    feats = (torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 0, 1, 1, 2, 2]))
    log_q = torch.log(torch.tensor([1.0, 0.1, 0.1, 0.1, 0.5, 0.2]))
    loss = in_batch_loss(model, users, history, items, feats, log_q)

    u = model.user_vectors(users, history)
    v = model.item_vectors(items, feats[0][items], feats[1][items])
    logits = model.scale() * u @ v.T - log_q[items]
    expected = []
    for row in range(3):
        keep = [c for c in range(3) if c == row or items[c] != items[row]]
        expected.append(-F.log_softmax(logits[row, keep], 0)[keep.index(row)])
    assert torch.allclose(loss, torch.stack(expected).mean(), atol=1e-6)
    unmasked = F.cross_entropy(logits, torch.arange(3))
    assert not torch.allclose(loss, unmasked)


def test_training_lowers_the_loss_and_checkpoints_every_epoch(shop, tmp_path):
    result = train(shop, out_dir=tmp_path, epochs=3, progress=False, **TINY)
    assert [p.name for p in result.checkpoints] == ["epoch-1.pt", "epoch-2.pt", "epoch-3.pt"]
    assert result.losses[-1] < result.losses[0]
    ckpt = load_checkpoint(result.checkpoints[-1])
    assert ckpt["config"] == dataclasses.asdict(result.config)
    assert ckpt["epoch"] == 2 and ckpt["data_fingerprint"] == shop.fingerprint()
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(ckpt["model"][name], tensor)


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(shop, tmp_path):
    whole = train(shop, out_dir=tmp_path / "whole", epochs=2, progress=False, **TINY)
    first = train(shop, out_dir=tmp_path / "part", epochs=1, progress=False, **TINY)
    resumed = train(
        shop,
        out_dir=tmp_path / "part",
        epochs=2,
        resume_from=first.checkpoints[0],
        progress=False,
        **TINY,
    )
    assert [p.name for p in resumed.checkpoints] == ["epoch-2.pt"]
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(resumed.model.state_dict()[name], tensor, atol=1e-5), name


def test_resume_refuses_a_checkpoint_from_other_data(shop, tmp_path):
    first = train(shop, out_dir=tmp_path, epochs=1, progress=False, **TINY)
    other = generate_shop(n_interactions=6_000, n_items=400, n_categories=20, seed=4)
    with pytest.raises(CheckpointError, match="different data"):
        train(other, out_dir=tmp_path, epochs=2, resume_from=first.checkpoints[0], **TINY)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        train(shop, out_dir=tmp_path, epochs=2, resume_from=tmp_path / "junk.pt", **TINY)


def test_unknown_or_mistyped_training_option_is_a_type_error(shop):
    with pytest.raises(TypeError, match="learning_rate"):
        train(shop, learning_rate=0.1)
    with pytest.raises(TypeError, match="epochs must be int"):
        train(shop, epochs="2")


@pytest.mark.integration
def test_two_process_ddp_on_cpu(tmp_path):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "training.train",
        "--data",
        "synthetic",
        "--interactions",
        "4000",
        "--items",
        "300",
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--batch-size",
        "64",
        "--dim",
        "16",
        "--hidden",
        "16",
        "--threads",
        "1",
    ]
    env = {**os.environ, "RECDRILL_FORCE_CPU": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, output
    ranks = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["params_sha256"] == ranks[1]["params_sha256"]  # DDP kept replicas in sync
    ckpt = load_checkpoint(tmp_path / "epoch-1.pt")
    assert ckpt["world_size"] == 2
