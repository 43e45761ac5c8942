"""torchrun integration: one process per device, gloo on the CPU, NCCL on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from amf_edge.errors import AmfEdgeError


@dataclass(frozen=True)
class Context:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def uses_cuda(device: str) -> bool:
    """Whether a `device` setting ("auto", "cpu" or "cuda") means the GPU: "cuda", or "auto" where PyTorch sees one."""
    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def init(device: str = "auto") -> Context:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK), or run alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = uses_cuda(device)
    if use_cuda and not torch.cuda.is_available():
        raise AmfEdgeError("device=cuda but PyTorch sees no CUDA GPU; use device=cpu or device=auto")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    target = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Context(rank, world_size, target)


def shutdown(context: Context) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()
