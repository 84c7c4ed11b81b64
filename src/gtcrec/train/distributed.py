"""Data-parallel training with PyTorch's own distributed package, launched by ``torchrun``.

    torchrun --nproc-per-node 2 -m gtcrec train --model lightgcn --dataset tiktok

Each process (rank) holds the whole model and graph. Every rank draws the same epoch order and negatives
(the same seeded generator) and trains on its share of each global batch (``train.batch_size`` is the
global batch); gradients are summed across ranks, weighted by each share's size, so that a step is the step
a single process takes on the whole batch, for losses that are means over the batch's triples (BPR and its
regularisers; in-batch contrastive terms see each rank's share only). Validation and test are sharded by
user and their sums gathered. Only rank 0 writes run folders, checkpoints and logs; every rank reads a
checkpoint to resume. Backend: NCCL on CUDA, gloo on CPU. A rank that dies ends the job: torchrun stops the
others, and collectives time out after ``GTCREC_DIST_TIMEOUT`` seconds (default 1800) instead of hanging.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UserError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """This process's rank and the number of ranks (0 and 1 outside a distributed job)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(device: torch.device) -> World:
    """Join the process group that torchrun describes in the environment (once); the resulting world."""
    if not launched_by_torchrun() or world().distributed:
        return world()
    if not dist.is_available():
        raise UserError("WORLD_SIZE > 1, but this torch build has no torch.distributed")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    timeout = dt.timedelta(seconds=float(os.environ.get("GTCREC_DIST_TIMEOUT", "1800")))
    dist.init_process_group(backend, timeout=timeout)
    return world()


def rank_device(device: torch.device) -> torch.device:
    """On CUDA each local rank takes its own GPU (LOCAL_RANK); elsewhere the device as given."""
    if device.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Every rank starts from rank 0's weights (seeded alike, but a model's init need not be deterministic)."""
    if world().distributed:
        for tensor in module.state_dict().values():
            if torch.is_tensor(tensor) and not tensor.is_sparse and tensor.layout == torch.strided:
                dist.broadcast(tensor, 0)


def share(n: int, w: World) -> slice:
    """This rank's contiguous share of ``n`` rows (sizes differ by at most one; a share may be empty)."""
    base, extra = divmod(n, w.size)
    start = w.rank * base + min(w.rank, extra)
    return slice(start, start + base + (1 if w.rank < extra else 0))


def reduce_gradients(params: list[torch.nn.Parameter], weight: float) -> None:
    """Replace each gradient by the sum over ranks of ``weight * gradient``.

    With ``weight`` = this rank's share of the global batch, the result is the gradient of the batch mean. A
    parameter that no rank gave a gradient keeps none (as in one process: Adam then leaves it alone); one that
    some ranks did not reach counts 0 from them.
    """
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    had = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=grads[0].device)
    flat = torch.cat([g.reshape(-1) * weight for g in grads] + [had])
    dist.all_reduce(flat)
    offset = 0
    for i, (p, g) in enumerate(zip(params, grads)):
        n = g.numel()
        reached = bool(flat[flat.numel() - len(params) + i] > 0)
        p.grad = flat[offset:offset + n].view_as(p).clone() if reached else None
        offset += n


def sync_rng(device: torch.device) -> None:
    """Every rank takes rank 0's global random state (CPU, and CUDA on a GPU): per-batch draws whose size
    depends on a rank's share (dropout over the batch) would otherwise let later per-epoch draws (FREEDOM's and
    PGL's sampled graphs) differ between ranks."""
    state = torch.get_rng_state().to(device)
    dist.broadcast(state, 0)
    torch.set_rng_state(state.cpu())
    if device.type == "cuda":
        cuda_state = torch.cuda.get_rng_state(device).to(device)
        dist.broadcast(cuda_state, 0)
        torch.cuda.set_rng_state(cuda_state.cpu(), device)


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` over ranks (itself outside a distributed job)."""
    if world().distributed:
        values = values.clone()
        dist.all_reduce(values)
    return values
