"""Multi-process data-parallel helpers around ``torch.distributed``.

``train(..., world_size=K)`` spawns K processes with ``torch.multiprocessing``
(a file rendezvous in a temporary directory, so no port is needed); a script
started by ``torchrun`` is detected from its environment (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``...) and joins that group instead. Backend:
gloo on CPU, nccl on CUDA.
"""
from __future__ import annotations

import os
import re
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def default_backend(device: torch.device | str) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def torchrun_env() -> tuple[int, int, int] | None:
    """(rank, world_size, local_rank) when started by torchrun with WORLD_SIZE > 1, else None."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return None
    if world > 1 and "MASTER_ADDR" in os.environ:
        return rank, world, local
    return None


def init_process_group(rank: int, world_size: int, backend: str, init_file: str | None = None,
                       timeout_s: float = 600.0) -> None:
    """Join the group: through ``init_file`` (spawned workers) or the torchrun environment."""
    if dist.is_initialized():
        return
    init = f"file://{init_file}" if init_file else "env://"
    dist.init_process_group(backend, init_method=init, rank=rank, world_size=world_size,
                            timeout=timedelta(seconds=timeout_s))


def destroy(wait: bool = False) -> None:
    """Leave the group; with ``wait``, only once every process has reached this point.

    Without waiting a rank can tear down its gloo threads while another still
    talks to it, and the C++ runtime aborts (SIGABRT, "terminate called without
    an active exception") in about one run in fifteen. A process leaving on an
    error must not wait: the others may be blocked in a different collective.
    """
    if not dist.is_initialized():
        return
    try:
        if wait and dist.get_world_size() > 1:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def leave_worker() -> None:
    """End a spawned worker that finished cleanly without the interpreter's finalization.

    Objects that still hold the gloo group (the DDP reducer, pending work) can be torn down
    there after the group is gone, and the C++ runtime then aborts the process (SIGABRT,
    "terminate called without an active exception") although its work is done and saved.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(values, device) -> list[float]:
    """Sum a list of floats over all processes (identity in a single process)."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def any_flag(flag: bool, device) -> bool:
    """True on every process when ``flag`` is true on any of them."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def spawn(fn, world_size: int, args: tuple) -> None:
    """Run ``fn(rank, *args)`` in ``world_size`` new processes and wait for all.

    A worker that raised ValueError (bad input, a diverged loss) re-raises here
    as a ValueError with the worker's one-line message.
    """
    try:
        mp.spawn(fn, args=args, nprocs=world_size, join=True)
    except mp.ProcessRaisedException as e:
        m = re.findall(r"^([\w.]*Error): (.*)$", str(e), flags=re.M)
        if m and m[-1][0].rsplit(".", 1)[-1] in ("ValueError", "NonFiniteError"):
            raise ValueError(m[-1][1]) from None
        raise


def all_gather_object(obj, world_size: int) -> list:
    """``obj`` of every process, in rank order (``[obj]`` in a single process)."""
    if world_size == 1:
        return [obj]
    out = [None] * world_size
    dist.all_gather_object(out, obj)
    return out
