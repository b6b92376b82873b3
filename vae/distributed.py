"""The process group of a `torchrun` run: who am I, start and stop it, shard a batch, agree on values, wait for rank 0.

Everything here is PyTorch's own torch.distributed (gloo on CPU, nccl on CUDA); without torchrun (no WORLD_SIZE in
the environment) the world is one process and every helper is a no-op.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import signal
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
import torch.nn as nn

from .config import ConfigError

T = TypeVar("T")


class JobStopped(Exception):
    """Another process of the same torchrun job stopped (killed, failed); this one stops too. One sentence."""


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0 .. size - 1
    size: int = 1  # processes in the job (torchrun's --nproc_per_node x --nnodes)
    local_rank: int = 0  # this process on its machine: which GPU it drives

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


SINGLE = World()


def from_env(env: dict | None = None) -> World:
    """The world torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK; one process without them."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return SINGLE
    return World(int(env.get("RANK", 0)), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))


def is_main_process() -> bool:
    """Rank 0 or no torchrun: the process that speaks to the person (usable before the group is started)."""
    return from_env().is_main


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def device_for(world: World, device: torch.device) -> torch.device:
    """Each rank drives its own GPU (cuda:LOCAL_RANK); CPU ranks share the CPU."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", world.local_rank if world.distributed else torch.cuda.current_device())
    return device


@contextlib.contextmanager
def process_group(world: World, device: torch.device, timeout_s: float = 1800) -> Iterator[None]:
    """Start the torchrun job's process group for `world` (nothing for one process) and always destroy it.

    While it runs, SIGTERM (torchrun stopping the survivors of a failed rank) raises JobStopped, so the person reads
    one sentence and the atomic writes clean up after themselves."""
    if not world.distributed or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), timeout=datetime.timedelta(seconds=timeout_s),
                            device_id=device if device.type == "cuda" else None)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield
    except BaseException:  # stopping already: torchrun's SIGTERM must not cut the last sentence short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise
    else:
        signal.signal(signal.SIGTERM, previous)
    finally:
        dist.destroy_process_group()


def _stop_on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise JobStopped("torchrun stopped this process because another process of the job stopped")


def is_peer_failure(err: BaseException) -> bool:
    """A collective failed because another rank vanished: gloo says 'Connection reset by peer' in a RuntimeError
    from its transport, nccl raises DistError; an ordinary bug is neither."""
    text = str(err)
    return isinstance(err, dist.DistError) or (isinstance(err, RuntimeError) and ("gloo" in text or "NCCL" in text or "ProcessGroup" in text))


@contextlib.contextmanager
def peers_watched() -> Iterator[None]:
    """Turn a collective failing because a peer vanished into JobStopped, one sentence."""
    try:
        yield
    except (RuntimeError, dist.DistError) as err:
        if not is_peer_failure(err):
            raise
        reason = "connection reset by peer" if "reset by peer" in str(err) else type(err).__name__
        raise JobStopped(f"another process of the job stopped ({reason})") from None


# --- sharding --------------------------------------------------------------------------------------------------

def shard(rows: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's rows of a global batch: every size-th row from its rank on (strided, so shards differ by at
    most one row and their concatenation in rank order is a permutation of the batch)."""
    return rows[world.rank :: world.size]


def share(items: Sequence[T], world: World) -> list[T]:
    """This rank's items of a list shared out round-robin (the sweep: one configuration per rank at a time)."""
    return list(items[world.rank :: world.size])


def check_batches(n_rows: int, batch_size: int, world: World) -> None:
    """Every global batch must give each rank at least one row (an empty shard cannot run BatchNorm)."""
    last = n_rows % batch_size
    if batch_size < world.size or 0 < last < world.size:
        raise ConfigError(f"a batch of {min(batch_size, last or batch_size)} images cannot be shared among {world.size} processes; "
                         f"use a --batch-size of at least {world.size} whose last batch of {n_rows} images keeps at least {world.size}")


# --- agreeing ---------------------------------------------------------------------------------------------------

def all_sum(values: torch.Tensor, world: World) -> torch.Tensor:
    """The sum over ranks of a small tensor (itself for one process)."""
    if not world.distributed:
        return values
    values = values.clone()
    with peers_watched():
        dist.all_reduce(values)
    return values


def broadcast_object(obj: T, world: World) -> T:
    """Rank 0's value of a picklable object, on every rank."""
    if not world.distributed:
        return obj
    box = [obj]
    with peers_watched():
        dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        with peers_watched():
            dist.barrier()


def main_first(world: World, fn: Callable[[], T]) -> T:
    """fn() on rank 0, then on the others once it is done (one download for N processes). A failure on rank 0 is
    raised on every rank, so each stops with the same sentence instead of waiting."""
    if not world.distributed:
        return fn()
    result, error = None, None
    if world.is_main:
        try:
            result = fn()
        except Exception as err:  # re-raised below, on every rank
            error = err
    error = broadcast_object(error, world)
    if error is not None:
        raise error
    return result if world.is_main else fn()


# --- BatchNorm over the global batch ---------------------------------------------------------------------------

class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) as an autograd op: every rank's loss depends on every rank's sums, so the gradient of a sum is
    the sum over ranks of the gradients (what torch.distributed.nn's deprecated all_reduce did)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d normalising with the statistics of the global batch across ranks, on CPU, where PyTorch's
    SyncBatchNorm refuses to run (its kernels are CUDA-only). Its sums go through _SumOverRanks, whose backward sums
    the gradients too, so the backward is the global batch's, as SyncBatchNorm's is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        xf = x.float()  # (B, C, H, W); sums in fp32 under bf16 autocast too
        dims = (0, 2, 3)
        count = torch.tensor([float(x.shape[0] * x.shape[2] * x.shape[3])], dtype=xf.dtype)
        totals = _SumOverRanks.apply(torch.cat([count, xf.sum(dims)]))  # (1 + C): rows x pixels, per-channel sums
        n, mean = totals[0], totals[1:] / totals[0]
        centred = xf - mean.view(1, -1, 1, 1)
        var = _SumOverRanks.apply(centred.pow(2).sum(dims)) / n  # biased, as BatchNorm normalises with
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), factor)
                self.running_var.lerp_((var.detach() * n / (n - 1)).to(self.running_var.dtype), factor)  # unbiased, as BatchNorm keeps
        return y.to(x.dtype)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm layers that see the global batch: PyTorch's SyncBatchNorm on GPUs, CpuSyncBatchNorm on CPU.
    Parameters and buffers are kept (the same tensors), so the optimizer and checkpoints are unaffected."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) is nn.BatchNorm2d:
            sync = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            sync.weight, sync.bias = child.weight, child.bias
            sync.running_mean, sync.running_var, sync.num_batches_tracked = child.running_mean, child.running_var, child.num_batches_tracked
            sync.train(child.training)
            setattr(model, name, sync)
        else:
            sync_batchnorm(child, device)
    return model


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """PyTorch's DistributedDataParallel around the training forward (it starts every rank from rank 0's weights)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
