"""dropcore with the PyTorch toolchain: FX, torch.compile, torch.export, autocast,
channels_last, torch.utils.checkpoint, DataParallel and DDP (CPU, gloo)."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint
from torchvision.models.feature_extraction import create_feature_extractor

import dropcore as dc
from dropcore import drop_block
from tests import ddp_worker


def _net2d() -> nn.Sequential:
    """Every dropcore module behind a conv, on (N, 3, H, W) inputs."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        dc.DropBlock2d(0.2, 3),
        dc.Dropout(0.1),
        dc.SpatialDropout(0.1),
        dc.DropPath(0.1),
        dc.DropConnectConv2d(8, 4, 3, padding=1, p=0.2),
    )


def _net3d() -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), dc.DropBlock3d(0.2, 2), nn.Conv3d(4, 2, 1))


def _seeded(fn, seed: int = 0):  # noqa: ANN001, ANN202 - a tiny test helper
    torch.manual_seed(seed)
    return fn()


# ----------------------------------------------------------------------------------- FX


@pytest.mark.parametrize("training", [True, False])
def test_fx_symbolic_trace_records_leaf_calls(training: bool) -> None:
    torch.manual_seed(0)
    net = _net2d().train(training)
    traced = torch.fx.symbolic_trace(net)
    called = {n.target for n in traced.graph.nodes if n.op == "call_function"}
    # Each regularizer is one node (its mask construction is not traced into).
    assert {dc.drop_block, dc.dropout, dc.spatial_dropout, dc.drop_path, dc.drop_connect} <= called
    x = torch.randn(2, 3, 10, 10)
    assert torch.equal(_seeded(lambda: traced(x)), _seeded(lambda: net(x)))
    net3 = _net3d().train(training)
    traced3 = torch.fx.symbolic_trace(net3)
    assert dc.drop_block3d in {n.target for n in traced3.graph.nodes}
    v = torch.randn(2, 2, 4, 6, 6)
    assert torch.equal(_seeded(lambda: traced3(v)), _seeded(lambda: net3(v)))


class _CallsTheFunction(nn.Module):
    """User code calling the function (not the module), imported by name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_block(x, 0.2, 3)


def test_fx_user_code_calling_the_function() -> None:
    # torch.fx.wrap patches the names in dropcore's own modules; a function imported into
    # user code is made a leaf with autowrap_functions (or torch.fx.wrap in that module).
    tracer = torch.fx.Tracer(autowrap_functions=(drop_block,))
    module = _CallsTheFunction()
    graph = torch.fx.GraphModule(module, tracer.trace(module))
    assert drop_block in {n.target for n in graph.graph.nodes}
    x = torch.randn(2, 3, 10, 10)
    assert torch.equal(_seeded(lambda: graph(x)), _seeded(lambda: module(x)))


def test_fx_feature_extraction_like_torchvision() -> None:
    # create_feature_extractor traces train and eval separately, as for torchvision's ops.
    net = _net2d()
    extractor = create_feature_extractor(net, return_nodes={"1.drop_block": "blocks", "5": "out"})
    x = torch.randn(2, 3, 10, 10)
    feats = _seeded(lambda: extractor.train()(x))
    ref = _seeded(lambda: net[1](net[0](x)))
    assert torch.equal(feats["blocks"], ref) and bool((ref == 0).any())
    extractor.eval()
    assert torch.equal(extractor(x)["blocks"], net[0](x))


# ------------------------------------------------------------------------------ compile


def test_compile_fullgraph_forward_backward() -> None:
    # fullgraph=True raises on any graph break. On CPU "auto" would pick the sparse path,
    # whose seed count is data-dependent; under compile it takes the dense path instead
    # (the one it picks on GPUs anyway). One tiny graph: inductor compiles are slow on CPU.
    torch._dynamo.reset()
    net = nn.Sequential(dc.DropBlock2d(0.3, 3), dc.DropPath(0.25))
    compiled = torch.compile(net, fullgraph=True)
    h = (torch.rand(8, 4, 12, 12) + 0.5).requires_grad_()
    torch.manual_seed(0)
    y = compiled(h)
    y.sum().backward()
    assert bool((y == 0).any()) and torch.isfinite(y).all()
    # Backward uses the forward's mask: d(sum y)/dh = keep * scales = y / h.
    assert torch.allclose(h.grad * h.detach(), y.detach(), atol=1e-5)
    kept = h.grad != 0
    assert bool(kept.any()) and bool((~kept).any())


def test_compile_explicit_sparse_path_still_correct() -> None:
    # algorithm="sparse" breaks the graph (data-dependent seed count); results stay exact.
    torch._dynamo.reset()
    fn = torch.compile(lambda t: dc.drop_block(t, 0.2, 3, algorithm="sparse"), backend="eager")
    x = torch.rand(8, 4, 14, 14) + 0.5
    y = fn(x)
    keep = (y != 0).to(x.dtype)
    assert torch.allclose(y, x * keep * keep.numel() / keep.sum())


# ------------------------------------------------------------------------------- export


def test_export_in_eval_is_the_identity_graph() -> None:
    net = _net2d().eval()
    x = torch.randn(2, 3, 10, 10)
    program = torch.export.export(net, (x,))
    assert torch.equal(program.module()(x), net(x))
    net3 = _net3d().eval()
    v = torch.randn(1, 2, 4, 6, 6)
    assert torch.equal(torch.export.export(net3, (v,)).module()(v), net3(v))


# ------------------------------------------------------------------------------ autocast


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), dc.DropBlock2d(0.2, 3), nn.Conv2d(8, 4, 1), dc.DropPath(0.2)
    )
    seen: list[torch.Tensor] = []
    net[1].register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.randn(4, 3, 14, 14)
    with torch.autocast("cpu", dtype=dtype):
        y = net(x)
    assert y.dtype == dtype and seen[0].dtype == dtype and torch.isfinite(y).all()
    y.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


# -------------------------------------------------------------------------- channels_last


def test_channels_last_through_a_model() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), dc.DropBlock2d(0.2, 3))
    net_cl = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), dc.DropBlock2d(0.2, 3))
    net_cl.load_state_dict(net.state_dict())
    net_cl = net_cl.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 14, 14)
    y = _seeded(lambda: net(x))
    y_cl = _seeded(lambda: net_cl(x.to(memory_format=torch.channels_last)))
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    # The sparse mask follows the strides, so the same draw drops the same blocks.
    assert torch.equal(y == 0, y_cl == 0) and torch.allclose(y, y_cl, atol=1e-5)
    v = torch.randn(2, 3, 4, 6, 6).to(memory_format=torch.channels_last_3d)
    assert dc.drop_block3d(v, 0.2, 2).is_contiguous(memory_format=torch.channels_last_3d)


# ----------------------------------------------------------------------------- checkpoint


@pytest.mark.parametrize("algorithm", ["sparse", "dense", "counter"])
@pytest.mark.parametrize("reentrant", [False, True])
def test_checkpoint_recomputes_the_same_mask(algorithm: str, reentrant: bool) -> None:
    torch.manual_seed(0)
    conv1, conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 3, padding=1)

    def segment(x: torch.Tensor) -> torch.Tensor:
        h = dc.drop_block(conv1(x), 0.3, 3, algorithm=algorithm)  # type: ignore[arg-type]
        return conv2(F.relu(dc.drop_path(h, 0.3)))

    def grads(run) -> tuple[torch.Tensor, ...]:  # noqa: ANN001 - a tiny test helper
        conv1.zero_grad(), conv2.zero_grad()
        torch.manual_seed(7)
        run().square().sum().backward()
        return (conv1.weight.grad.clone(), conv2.weight.grad.clone())

    # Reentrant checkpoint only back-propagates when an input requires grad.
    x = torch.randn(4, 3, 14, 14, requires_grad=reentrant)
    plain = grads(lambda: segment(x))
    # generator=None: checkpoint saves and restores the RNG state around the recompute.
    kept = grads(lambda: checkpoint(segment, x, use_reentrant=reentrant))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, kept, strict=True))
    # Sensitivity: without the restored RNG the recompute draws another mask.
    redrawn = grads(
        lambda: checkpoint(segment, x, use_reentrant=reentrant, preserve_rng_state=False)
    )
    assert not torch.allclose(plain[0], redrawn[0], atol=1e-6)


# ------------------------------------------------------------------- DataParallel / DDP


def test_data_parallel_wraps_the_modules() -> None:
    torch.manual_seed(0)
    net = _net2d()
    x = torch.randn(4, 3, 10, 10)
    wrapped = nn.DataParallel(net)  # on a CPU-only machine it runs the module directly
    y = _seeded(lambda: wrapped(x))
    assert torch.equal(y, _seeded(lambda: net(x)))
    y.sum().backward()
    assert net[0].weight.grad is not None


def test_ddp_cpu_gloo_ranks_draw_their_own_masks(tmp_path) -> None:  # noqa: ANN001
    world = 2
    mp.spawn(ddp_worker.run, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(world))
    # Gradients are all-reduced: identical on every rank, whatever each rank dropped.
    assert torch.allclose(r0["per_rank_grad"], r1["per_rank_grad"])
    # Seeding each rank differently gives different masks (the data-parallel ensemble) ...
    assert not torch.equal(r0["per_rank_mask"], r1["per_rank_mask"])
    # ... while one seed on every rank drops the same blocks everywhere (BACKGROUND.md).
    assert torch.equal(r0["same_seed_mask"], r1["same_seed_mask"])
