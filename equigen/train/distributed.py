"""torch.distributed glue: start the process group that ``torchrun`` describes, and who is rank 0.

``torchrun --nproc_per_node=K script.py`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and the
rendezvous address in the environment; :func:`init_distributed` reads them and starts the process
group with the ``gloo`` backend on CPU or ``nccl`` on CUDA. Nothing here is home-made
communication: gradients are averaged by ``torch.nn.parallel.DistributedDataParallel``.

Example::

    rank, world_size = init_distributed()      # (0, 1) when not launched by torchrun
    if is_rank0():
        print("only once")
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init_distributed", "is_distributed", "rank", "world_size", "local_rank", "is_rank0", "barrier"]


def is_distributed() -> bool:
    """True when a process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_rank0() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Start the process group described by torchrun's environment; returns ``(rank, world_size)``.

    Without ``WORLD_SIZE`` > 1 in the environment (a plain ``python`` launch) this does nothing and
    returns ``(0, 1)``. ``backend`` defaults to ``"nccl"`` when CUDA is available, else ``"gloo"``.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl", "mpi"):
        raise ValueError(f"backend={backend!r} is not supported; use 'gloo' (CPU) or 'nccl' (CUDA)")
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()
