"""One rank of the 2-process DDP check (run by test_recipe_toolchain.py, not by pytest).

Usage: python ddp_recipe_worker.py RANK WORLD INIT_FILE OUT_FILE
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import dropcore as dc
from dropcore.train import SmallResNet


def main() -> None:
    rank, world, init_file, out_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # every rank identically seeded: the setting of the classic bug
    model = SmallResNet()
    reg = dc.regularize(model, dc.Recipe(method="drop_block", p=0.3, seed=0))
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 1, 28, 28, generator=gen), torch.randint(0, 10, (16,), generator=gen)
    record: dict[str, object] = {}
    for step in range(3):
        reg.set_step(step)
        out = ddp(x)
        F.cross_entropy(out, y).backward()
        if step == 0:
            record["output"] = out.detach().clone()
            record["grads"] = [p.grad.clone() for p in model.parameters()]
            record["dropped"] = reg.dropped()
        opt.step()
        opt.zero_grad()
    record["params"] = [p.detach().clone() for p in model.parameters()]
    torch.save(record, out_file)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
