"""Train the two-tower model with in-batch sampled softmax (nanoGPT style).

One commented defaults block (``TrainConfig``) is saved with every checkpoint. Run
in-process through ``train(...)``, or distributed with

    torchrun --standalone --nproc_per_node=2 -m training.train --data synthetic --out DIR

which uses DDP over gloo on CPU and NCCL on GPU; each rank trains on its shard of
every epoch's permutation and rank 0 writes the checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from rich.progress import Progress

from model.architecture import ModelConfig, TwoTower
from training.dataset import Interactions, Split, leave_last_out


@dataclass(frozen=True)
class TrainConfig:
    # model ------------------------------------------------------------------------------
    dim: int = 64  # embedding size of both towers (L2-normalised)
    hidden: int = 128  # user-tower MLP width
    history_len: int = 20  # last-N training items averaged into the user tower
    init_temperature: float = 0.05  # learned; logits = dot / temperature
    # optimisation -------------------------------------------------------------------------
    epochs: int = 2
    batch_size: int = 1024  # per rank; the other positives in a batch are the negatives
    lr: float = 3e-3
    weight_decay: float = 1e-5  # AdamW, decoupled
    logq_correction: bool = True  # subtract log(item frequency) from in-batch logits
    seed: int = 0
    threads: int = 0  # torch CPU threads per rank; 0 = cores / world size
    # output -------------------------------------------------------------------------------
    out_dir: str = "var/checkpoints"  # one checkpoint per epoch: epoch-<n>.pt

    def model_config(self, data: Interactions) -> ModelConfig:
        return ModelConfig(
            n_users=data.n_users + 1,
            n_items=data.n_items + 1,
            n_categories=data.n_categories,
            n_brands=data.n_brands,
            dim=self.dim,
            hidden=self.hidden,
            history_len=self.history_len,
            init_temperature=self.init_temperature,
        )


@dataclass
class TrainResult:
    model: TwoTower
    split: Split
    config: TrainConfig
    checkpoints: list[Path] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # mean loss per epoch (this rank)
    epoch_seconds: list[float] = field(default_factory=list)


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to other data or another architecture."""


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _leave_process_group() -> None:
    """Destroys the process group once every rank is done with it.

    A rank that tears gloo down while another still writes its checkpoint can
    abort ("terminate called without an active exception", SIGABRT), so the
    ranks meet at a barrier first.
    """
    if not dist.is_initialized():
        return
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


def batch_history(split: Split, pos: torch.Tensor, train_item: torch.Tensor, n: int):
    """The ``n`` training items before each position of the same user, 0-padded."""
    starts = torch.from_numpy(split.train_user_start)[pos]
    idx = pos.unsqueeze(1) - torch.arange(n, 0, -1).unsqueeze(0)
    valid = idx >= starts.unsqueeze(1)
    return torch.where(valid, train_item[idx.clamp(min=0)], torch.zeros_like(idx))


def in_batch_loss(
    model: torch.nn.Module,
    users: torch.Tensor,
    history: torch.Tensor,
    items: torch.Tensor,
    item_feats: tuple[torch.Tensor, torch.Tensor],
    log_q: torch.Tensor | None,
) -> torch.Tensor:
    """Sampled softmax over the batch's positives, logQ-corrected, accidental hits masked."""
    category, brand = item_feats
    u, v, scale = model(users, history, items, category[items], brand[items])
    logits = scale * (u @ v.T)
    if log_q is not None:
        logits = logits - log_q[items].unsqueeze(0)
    same = items.unsqueeze(0) == items.unsqueeze(1)
    same.fill_diagonal_(False)
    logits = logits.masked_fill(same, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(items), device=logits.device))


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_checkpoint(path: str | Path) -> dict:
    """Our own checkpoint, loaded without unpickling arbitrary objects."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"{path}: cannot load checkpoint: {exc}") from exc


def train(
    data: Interactions,
    *,
    out_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    progress: bool = True,
    **overrides,
) -> TrainResult:
    """Train on ``data``; keyword overrides replace TrainConfig defaults (typed, checked)."""
    unknown = set(overrides) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise TypeError(f"unknown training options: {', '.join(sorted(unknown))}")
    for f in dataclasses.fields(TrainConfig):
        if f.name in overrides:
            value, wanted = overrides[f.name], type(f.default)
            if not isinstance(value, wanted) and not (wanted is float and type(value) is int):
                raise TypeError(f"training option {f.name} must be {wanted.__name__}: {value!r}")
    config = TrainConfig(**{**overrides, **({"out_dir": str(out_dir)} if out_dir else {})})
    rank, world = _distributed()
    torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 1) // world))
    device = torch.device(f"cuda:{torch.cuda.current_device()}" if _use_cuda() else "cpu")

    split = leave_last_out(data, config.history_len)
    fingerprint = data.fingerprint()
    model_config = config.model_config(data)
    torch.manual_seed(config.seed)
    model = TwoTower(model_config).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    start_epoch = 0
    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        if ckpt.get("data_fingerprint") != fingerprint:
            raise CheckpointError(f"{resume_from}: checkpoint was trained on different data")
        if ckpt.get("model_config") != model_config.to_dict():
            raise CheckpointError(f"{resume_from}: checkpoint has a different architecture")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_epoch = int(ckpt["epoch"]) + 1
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    train_item = torch.from_numpy(split.train_item)
    train_user = torch.from_numpy(split.train_user)
    feats = (
        torch.from_numpy(data.item_category).to(device),
        torch.from_numpy(data.item_brand).to(device),
    )
    counts = torch.from_numpy(split.item_counts).double()
    log_q = (counts.clamp(min=1) / counts.sum()).log().float().to(device)
    n_train = len(train_item)
    steps = max(1, n_train // (config.batch_size * world))
    out = Path(config.out_dir)
    result = TrainResult(model=model, split=split, config=config)

    with Progress(disable=not progress or rank != 0, transient=True) as bar:
        for epoch in range(start_epoch, config.epochs):
            perm = torch.randperm(
                n_train, generator=torch.Generator().manual_seed(config.seed + epoch)
            )
            perm = perm[rank::world]
            started = time.perf_counter()
            task = bar.add_task(f"epoch {epoch + 1}/{config.epochs}", total=steps)
            total = 0.0
            model.train()
            for step in range(steps):
                pos = perm[step * config.batch_size : (step + 1) * config.batch_size]
                history = batch_history(split, pos, train_item, config.history_len)
                loss = in_batch_loss(
                    ddp_model,
                    train_user[pos].to(device),
                    history.to(device),
                    train_item[pos].to(device),
                    feats,
                    log_q if config.logq_correction else None,
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach())
                bar.advance(task)
            bar.remove_task(task)
            result.losses.append(total / steps)
            result.epoch_seconds.append(time.perf_counter() - started)
            if not math.isfinite(result.losses[-1]):
                raise FloatingPointError(f"training diverged at epoch {epoch + 1}")
            if rank == 0:
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"epoch-{epoch + 1}.pt"
                torch.save(
                    {
                        "config": dataclasses.asdict(config),
                        "model_config": model_config.to_dict(),
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "epoch": epoch,
                        "loss": result.losses[-1],
                        "data_fingerprint": fingerprint,
                        "world_size": world,
                    },
                    path,
                )
                result.checkpoints.append(path)
    model.eval()
    if world > 1:
        (out / f"rank-{rank}.json").write_text(
            json.dumps({"rank": rank, "world_size": world, "params_sha256": _digest(model)})
        )
    return result


def _use_cuda() -> bool:
    return torch.cuda.is_available() and os.environ.get("RECDRILL_FORCE_CPU") != "1"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__)
    parser.add_argument("--data", default="synthetic", help="'synthetic' or an event-log path")
    parser.add_argument("--interactions", type=int, default=100_000, help="synthetic size")
    parser.add_argument("--items", type=int, default=10_000, help="synthetic catalogue size")
    parser.add_argument("--out", required=True, help="checkpoint directory")
    parser.add_argument("--resume", help="checkpoint to resume from")
    for f in dataclasses.fields(TrainConfig):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction)
        elif f.name != "out_dir":
            parser.add_argument(flag, type=type(f.default))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point for torchrun: trains and writes checkpoints (publishing is the CLI's job)."""
    from training.loaders import load_event_log
    from training.synthetic import generate_shop

    args = _parser().parse_args(argv)
    if args.data == "synthetic":
        data = generate_shop(n_interactions=args.interactions, n_items=args.items)
    else:
        data = load_event_log(args.data)
    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name != "out_dir" and getattr(args, f.name) is not None
    }
    try:
        result = train(data, out_dir=args.out, resume_from=args.resume, **overrides)
    finally:
        _leave_process_group()
    if result.checkpoints:
        print(f"wrote {result.checkpoints[-1]} (loss {result.losses[-1]:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
