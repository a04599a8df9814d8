"""Distributed training under ``torchrun``: joining the process group (gloo on CPU, nccl on CUDA) with keys of
its own per elastic attempt, the device each rank trains on, and leaving it: the group destroyed at exit and a
finished rank ending without the interpreter's teardown (docs/scale.md)."""

from __future__ import annotations

import atexit
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from omnivec.training.device import resolve_device


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def rank_device(spec: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """The device this process trains on: :func:`omnivec.training.device.resolve_device` of ``spec`` (``auto``: CUDA
    when present, else the CPU), a CUDA device without an index pinned to the process's own GPU (``cuda:N``
    for ``LOCAL_RANK`` N under ``torchrun``)."""
    device = resolve_device(spec)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device: str | torch.device | None = "auto") -> DistInfo:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1); otherwise a single process.
    The backend follows the device the run trains on (:func:`rank_device`): nccl on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    target = rank_device(device, local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo", **attempt_store())
        atexit.register(leave_process_group)
    if target.type == "cuda":
        torch.cuda.set_device(target)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local)


def attempt_store() -> dict[str, Any]:
    """``init_process_group`` arguments that give this torchrun attempt its own keys in the agent's store
    (``env://`` under the prefix ``omnivec/attempt-N``, N = ``TORCHELASTIC_RESTART_COUNT``). The agent keeps one
    store across an elastic restart, so without a prefix a restarted rank could read the address a rank of the
    failed attempt had published and connect to a dead port: the elastic test's restarted ranks sometimes hung in
    gloo's ``connectFullMesh``, one refused at the old port, the other waiting for it (docs/scale.md)."""
    store, rank, world = next(dist.rendezvous("env://"))
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    return {"store": dist.PrefixStore(f"omnivec/attempt-{attempt}", store), "rank": rank, "world_size": world}


def leave_process_group() -> None:
    """Destroy the process group before the interpreter exits (registered at exit by :func:`init_distributed`;
    torch asks for it before exit, NCCL above all). Local to this rank: no collective, so a rank that is done need
    not wait for the main rank's evaluation. A CLI rank then leaves by :func:`end_rank` (docs/scale.md)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def end_rank(code: int) -> None:
    """End a ``torchrun`` rank whose command has returned ``code``: run the exit handlers (among them
    :func:`leave_process_group`), flush stdout and stderr, then ``os._exit``, skipping the interpreter's teardown.
    Destroying the group did not stop the abort (a rank killed by SIGABRT, "terminate called without an active
    exception", in CI on a 6-step ``train``): the likely cause is that torch objects still holding the group (DDP's
    reducer) are freed only while modules are cleared, where their gloo threads end in no defined order.
    Nothing is lost: the run folder is written and closed before the command returns. No-op outside a group.
    Only a rank that succeeded leaves this way: a rank whose peer died exits normally, because after ``os._exit``
    there the elastic agent's restarted ranks hung connecting their new gloo group (measured in
    ``tests/training/test_multinode.py``, the elastic test)."""
    if not dist.is_initialized():
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def default_device(info: DistInfo) -> torch.device:
    return rank_device("auto", info.local_rank)
