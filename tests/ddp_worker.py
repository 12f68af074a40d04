"""One rank of tests/test_toolchain.py's DDP check, in its own light module: spawned
processes import only this (torch and dropcore), not the whole test module."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

import dropcore as dc

__all__ = ["run"]


def run(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """Train one step twice (per-rank seeds, then one shared seed) and save the masks and
    gradients this rank saw to ``out_dir/rank{rank}.pt``."""
    torch.set_num_threads(1)  # two ranks share the machine's cores
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)  # identical initial weights on every rank
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), dc.DropBlock2d(0.3, 3), nn.Conv2d(4, 2, 1))
    seen: list[torch.Tensor] = []
    net[1].register_forward_hook(lambda m, i, o: seen.append((o == 0).detach()))
    ddp = nn.parallel.DistributedDataParallel(net)
    x = torch.ones(2, 2, 10, 10)  # the same batch on every rank isolates the masks
    results: dict[str, torch.Tensor] = {}
    for name, seed in (("per_rank", 100 + rank), ("same_seed", 100)):
        ddp.zero_grad()
        torch.manual_seed(seed)
        ddp(x).sum().backward()
        results[f"{name}_mask"] = seen[-1]
        results[f"{name}_grad"] = net[0].weight.grad.clone()
    torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()
