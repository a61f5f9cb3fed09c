"""Process group, model wrapping (DDP / FSDP2) and full state dicts for `fastlm train-lm`.

fastlm models need nothing special here: the attention op is a plain torch.library op with an autograd formula,
so DDP's gradient hooks and FSDP2's all-gather / reduce-scatter around each block see ordinary parameters and
ordinary gradients.

FSDP2 layout: fully_shard on every transformer Block (the unit of all-gather and of resharding after forward),
then on the whole model (embeddings, final norm and LM head; a tied LM head is the embedding Parameter, so it
lives once, in the root group). Rejected alternative: one fully_shard on the whole model, which all-gathers every
parameter at once and so saves no memory over DDP during forward and backward.
"""
from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import nn

from ..models.layers import Block

__all__ = ["DistEnv", "setup", "teardown", "wrap", "grad_sync", "all_mean", "full_state_dicts",
           "load_full_state_dicts", "fully_shard_blocks"]


@dataclass
class DistEnv:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    mode: str  # "none" | "ddp" | "fsdp"
    owns_group: bool  # this run created the process group (and destroys it at the end)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def setup(parallel: str, device: Optional[str]) -> DistEnv:
    """Join (or create) the process group and pick this rank's device.

    Launched by torchrun (RANK / WORLD_SIZE / MASTER_ADDR in the environment): env:// initialization, backend
    nccl on CUDA and gloo on CPU. Called inside a program that already initialized torch.distributed: that group
    is used and left alone. A single process asking for ddp / fsdp gets a one-rank group on localhost.
    """
    initialized = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if initialized else int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is not None:
        dev = torch.device(device)
    elif torch.cuda.is_available():
        dev = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    else:
        dev = torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    mode = parallel if parallel != "auto" else ("ddp" if world > 1 else "none")
    if mode == "none" and world > 1:
        raise ValueError(f"parallel='none' with {world} processes would train {world} separate models; use "
                         "'ddp' or 'fsdp' (or launch one process)")
    owns = False
    if mode != "none" and not initialized:
        if not dist.is_available():
            raise RuntimeError("this torch build has no torch.distributed")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if "MASTER_ADDR" in os.environ and "RANK" in os.environ:
            dist.init_process_group(backend, init_method="env://")
        else:
            dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
        owns = True
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    return DistEnv(rank=rank, world=world, local_rank=local_rank, device=dev, mode=mode, owns_group=owns)


def teardown(env: DistEnv) -> None:
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def _fully_shard() -> Any:
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError:  # torch < 2.6
        from torch.distributed._composable.fsdp import fully_shard  # type: ignore[attr-defined,no-redef,unused-ignore]
    return fully_shard


def fully_shard_blocks(model: nn.Module, **options: Any) -> nn.Module:
    """FSDP2 on every fastlm transformer Block of `model`, then on the model itself (see the module docstring).
    Works for encoder, decoder and encoder-decoder models. options go to every fully_shard call."""
    shard = _fully_shard()
    blocks = [m for m in model.modules() if isinstance(m, Block)]
    if not blocks:
        raise TypeError(f"fully_shard_blocks: {type(model).__name__} has no fastlm transformer blocks")
    for blk in blocks:
        shard(blk, **options)
    shard(model, **options)
    return model


def wrap(model: nn.Module, env: DistEnv) -> nn.Module:
    """The model as it is trained: itself, DDP(model) or the FSDP2-sharded model (in place)."""
    model.to(env.device)
    if env.mode == "ddp":
        ids = [env.device.index] if env.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if env.mode == "fsdp":
        return fully_shard_blocks(model)
    return model


@contextlib.contextmanager
def grad_sync(model: nn.Module, env: DistEnv, sync: bool) -> Iterator[None]:
    """Gradient accumulation: reduce gradients across ranks only in the last micro-step of an optimizer step.
    DDP: no_sync() on the others. FSDP2: set_requires_gradient_sync(False) keeps unsharded gradients until the
    last micro-step (rejected: a reduce-scatter per micro-step, which saves gradient memory but multiplies the
    communication by grad_accum)."""
    if env.mode == "ddp" and not sync:
        assert isinstance(model, nn.parallel.DistributedDataParallel)
        with model.no_sync():
            yield
        return
    if env.mode == "fsdp":
        getattr(model, "set_requires_gradient_sync")(sync)
    yield


def all_mean(x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Mean of a tensor over ranks (SUM then divide: gloo has no AVG)."""
    if env.world == 1 or not env.distributed:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / env.world


def _sd_options(*, cpu_offload: bool = False, broadcast_from_rank0: bool = False) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload, broadcast_from_rank0=broadcast_from_rank0)


def full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer,
                     env: DistEnv) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(model, optimizer) state dicts with full (unsharded) CPU tensors, keyed by parameter name, identical
    whatever the wrapping (DDP's `module.` prefix is dropped). Collective under FSDP2: every rank calls it; only
    rank 0 gets the tensors."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    opts = _sd_options(cpu_offload=True)
    msd: Dict[str, Any] = get_model_state_dict(model, options=opts)
    osd: Dict[str, Any] = dict(get_optimizer_state_dict(model, optimizer, options=opts))
    return msd, osd


def load_full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer, msd: Dict[str, Any],
                          osd: Dict[str, Any], env: DistEnv) -> None:
    """Load state dicts from `full_state_dicts`. Distributed: only rank 0 needs them (the others pass {}); they
    are broadcast and each rank keeps its shard."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    opts = _sd_options(broadcast_from_rank0=env.distributed)
    set_model_state_dict(model, msd, options=opts)
    set_optimizer_state_dict(model, optimizer, osd, options=opts)


def broadcast_object(obj: Any, env: DistEnv) -> Any:
    """Rank 0's `obj` on every rank (a picklable object)."""
    if not env.distributed or env.world == 1:
        return obj
    box: List[Any] = [obj if env.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any, env: DistEnv) -> List[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not env.distributed or env.world == 1:
        return [obj]
    out: List[Any] = [None] * env.world
    dist.all_gather_object(out, obj)
    return out
