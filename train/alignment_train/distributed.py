"""Sharding and reductions for training under ``torchrun``; no alignment math.

- :func:`fully_shard_model` applies FSDP2 (``fully_shard`` per decoder block, then the root);
- :func:`all_reduce_sum` sums a tensor over processes (the single-process answer without
  torch.distributed).

The collectives the algorithms use (KTO's z0 over the global batch, PPO's whitening moments)
are ``all_gather_cat`` and ``global_masked_moments`` in ``common.py``.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over processes (a new tensor on ``x``'s device, without gradient; gloo
    reduces on the CPU, NCCL on this process's GPU)."""
    if world_size() == 1:
        return x.detach().clone()
    dev = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
        else torch.device("cpu")
    y = x.detach().to(dev).clone()
    dist.all_reduce(y)
    return y.to(x.device)


# ---- FSDP2 -------------------------------------------------------------------------------
def decoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The transformer blocks of a model: our GPT's ``Block`` s, or the classes a Hugging
    Face model lists in ``_no_split_modules`` (``LlamaDecoderLayer``, ``GPT2Block``…)."""
    from .model import Block

    names: set[str] = set()
    for m in model.modules():
        names |= set(getattr(m, "_no_split_modules", None) or [])
    return [m for m in model.modules() if isinstance(m, Block) or type(m).__name__ in names]


def fully_shard_model(model: nn.Module, device: torch.device, bf16: bool) -> nn.Module:
    """FSDP2: ``fully_shard`` each decoder block, then the root (embeddings, final norm,
    heads). With ``bf16``, parameters are all-gathered in bf16 for compute and gradients
    reduced in fp32 (the sharded master weights stay fp32)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(device.type, (world_size(),))
    mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
          if bf16 else MixedPrecisionPolicy())
    from torch.distributed.fsdp import register_fsdp_forward_method

    # Our GPT's blocks also return their key/value cache, views that nothing changes in
    # place: FSDP2's warning about in-place ops on returned views does not apply.
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module \(FSDPBlock\) returned a view")
    for block in decoder_blocks(model):
        fully_shard(block, mesh=mesh, mp_policy=mp)
    fully_shard(model, mesh=mesh, mp_policy=mp)
    if hasattr(model, "decode"):  # sampling calls decode(), not forward(): gather for it too
        register_fsdp_forward_method(model, "decode")
    return model


def fsdp_modules(model: nn.Module) -> list[nn.Module]:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]
