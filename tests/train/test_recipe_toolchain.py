"""The recipe in real training set-ups: DDP on CPU (gloo) and torch.compile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import dropcore as dc
from dropcore.train import SmallResNet

ROOT = Path(__file__).resolve().parents[2]


def test_ddp_two_ranks_draw_different_masks_and_agree_on_gradients(tmp_path: Path) -> None:
    worker = Path(__file__).with_name("ddp_recipe_worker.py")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(worker),
                str(rank),
                "2",
                str(tmp_path / "init"),
                str(tmp_path / f"rank{rank}.pt"),
            ],
            env=env,
            cwd=ROOT,
        )
        for rank in range(2)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2))
    # Same weights, same batch: only the masks can make the outputs differ.
    assert not torch.equal(r0["output"], r1["output"])
    assert all(0.2 < v < 0.4 for v in r0["dropped"].values())
    # DDP averaged the gradients, so every rank steps identically.
    for g0, g1 in zip(r0["grads"], r1["grads"], strict=True):
        torch.testing.assert_close(g0, g1)
    for p0, p1 in zip(r0["params"], r1["params"], strict=True):
        torch.testing.assert_close(p0, p1)


def test_torch_compile_of_a_regularized_model_trains() -> None:
    torch.manual_seed(0)
    model = SmallResNet()
    reg = dc.regularize(model, dc.Recipe(method="drop_block", p=0.2, classifier_p=0.3))
    compiled = torch.compile(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 28, 28, generator=gen), torch.randint(0, 10, (32,), generator=gen)
    before = [p.detach().clone() for p in model.parameters()]
    losses = []
    for step in range(4):
        reg.set_step(step)
        loss = F.cross_entropy(compiled(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert all(v == v for v in losses) and losses[-1] < losses[0]
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
    dropped = reg.dropped()
    assert set(dropped) == {s.name for s in reg.sites}
    assert all(0.1 < v < 0.4 for v in dropped.values())
