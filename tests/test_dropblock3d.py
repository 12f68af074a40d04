"""3-D DropBlock: the 2-D guarantees per axis (exact gamma, uniform seeding, any block size,
generators, validation, both mask algorithms), with fixed seeds and sample-size tolerances."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision.ops

from dropcore import (
    DropBlock3d,
    block_gamma,
    drop_block3d,
    drop_block_mask,
    drop_probability_map,
    expected_drop_fraction,
)
from dropcore._block_masks import Geometry, Seeds, draw_seeds, dropped_counts, dropped_offsets
from tests.conftest import maps_for

# (D, H, W): cube, flat, odd and non-cubic; blocks include even sizes and larger than an axis.
SHAPES = [(4, 7, 7), (8, 14, 14), (5, 9, 6)]
BLOCKS = [1, 2, 3, 5, 7]
PS = [0.1, 0.25]


def _fraction(mask: torch.Tensor) -> float:
    return 1.0 - mask.float().mean().item()


def _maps(d: int, h: int, w: int) -> int:
    # Same budget as the 2-D tests (2M cells, sd of a fraction <= 0.0025, tolerance 0.01).
    return maps_for(d * h, w)


@pytest.mark.parametrize("seeding", ["uniform", "valid"])
@pytest.mark.parametrize("shape", SHAPES)
def test_exact_gamma_drops_p(
    shape: tuple[int, int, int], seeding: str, gen: torch.Generator
) -> None:
    n = _maps(*shape)
    for block, p in itertools.product(BLOCKS, PS):
        mask = drop_block_mask((n, 1, *shape), p, block, seeding=seeding, generator=gen)
        got = _fraction(mask)
        assert abs(got - p) < 0.01, (shape, block, p, seeding, got)


def test_uniform_seeding_drops_every_voxel_equally(gen: torch.Generator) -> None:
    # 8x14x14 maps, block 5, p = 0.2: 4096 maps give each voxel sd = sqrt(.16/4096) = 0.006,
    # so 0.03 is 5 sd for every one of the 1568 voxels.
    mask = drop_block_mask((4096, 1, 8, 14, 14), 0.2, 5, generator=gen)
    per_voxel = 1.0 - mask.float().mean(dim=(0, 1))
    assert (per_voxel - 0.2).abs().max().item() < 0.03


def test_valid_seeding_matches_the_analytic_map(gen: torch.Generator) -> None:
    # Centre bias in 3-D: the analytic per-voxel map predicts each measured frequency.
    mask = drop_block_mask(
        (4096, 1, 7, 9, 9), 0.25, 3, gamma="paper", seeding="valid", generator=gen
    )
    measured = 1.0 - mask.double().mean(dim=(0, 1))
    analytic = drop_probability_map(0.25, 3, 9, 9, gamma="paper", seeding="valid", depth=7)
    assert analytic.shape == (7, 9, 9)
    assert analytic[3, 4, 4] > 2 * analytic[0, 0, 0]  # the centre is dropped far more often
    assert (measured - analytic).abs().max().item() < 0.035  # 5 sd at p <= 0.5, 4096 maps


@pytest.mark.parametrize("shape", [(7, 7, 7), (5, 11, 9)])
@pytest.mark.parametrize("block,p", [(3, 0.1), (5, 0.25), (1, 0.1)])
def test_paper_options_match_torchvision_drop_block3d(
    shape: tuple[int, int, int], block: int, p: float, gen: torch.Generator
) -> None:
    n = _maps(*shape)
    ours = _fraction(
        drop_block_mask((n, 1, *shape), p, block, gamma="paper", seeding="valid", generator=gen)
    )
    torch.manual_seed(5)  # torchvision's op takes no generator
    tv_out = torchvision.ops.drop_block3d(torch.ones(n, 1, *shape), p, block)
    tv = (tv_out == 0).float().mean().item()
    analytic = expected_drop_fraction(
        p, block, shape[1], shape[2], gamma="paper", seeding="valid", depth=shape[0]
    )
    assert abs(ours - tv) < 0.01 and abs(ours - analytic) < 0.01, (ours, tv, analytic)


def test_closed_form_uniform_gamma() -> None:
    g = block_gamma(0.1, 3, 14, 14, depth=8)
    assert abs((1 - (1 - g) ** 27) - 0.1) < 1e-12
    # Clipped per axis: a block of 7 on a depth-2 map covers 2 x 7 x 7 voxels.
    g = block_gamma(0.1, 7, 14, 14, depth=2)
    assert abs((1 - (1 - g) ** (2 * 7 * 7)) - 0.1) < 1e-12
    assert expected_drop_fraction(0.3, 4, 6, 5, depth=3) == pytest.approx(0.3, abs=1e-12)


def test_one_seed_drops_one_clipped_cube() -> None:
    # Uniform seeding on a 5x5x5 map, block 3: grid cell (0, 2, 4) has offset -2 per axis,
    # so it covers depth 0 only (clipped), rows 0..2 and columns 2..4.
    geo = Geometry((1, 1, 5, 5, 5), 0.5, 3, "exact", "uniform", True, False)
    gd, gh, gw = geo.grid_shape
    assert (gd, gh, gw) == (7, 7, 7)
    cell = (0 * gh + 2) * gw + 4
    seeds = Seeds(torch.tensor([0]), torch.tensor([cell]))
    counts = dropped_counts(geo, seeds, torch.float32, torch.device("cpu")).view(5, 5, 5)
    expected = torch.zeros(5, 5, 5)
    expected[0:1, 0:3, 2:5] = 1
    assert torch.equal(counts, expected)
    keep = torch.ones(geo.mask_shape)
    keep.view(-1)[dropped_offsets(geo, seeds, keep.stride())] = 0
    assert torch.equal(keep.view(5, 5, 5), 1 - expected)


@pytest.mark.parametrize("seeding", ["uniform", "valid"])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_table_and_paint_render_the_same_mask(
    seeding: str, layout: torch.memory_format, gen: torch.Generator
) -> None:
    geo = Geometry((2, 3, 5, 7, 6), 0.3, 4, "exact", seeding, True, False)
    seeds = draw_seeds(geo, torch.device("cpu"), gen)
    assert len(seeds) > 0
    table = dropped_counts(geo, seeds, torch.float32, torch.device("cpu")) == 0
    painted = torch.ones(geo.mask_shape).contiguous(memory_format=layout)
    painted.as_strided((painted.numel(),), (1,))[dropped_offsets(geo, seeds, painted.stride())] = 0
    assert torch.equal(table.view(geo.mask_shape).float(), painted)


@pytest.mark.parametrize("algorithm", ["sparse", "dense"])
def test_both_algorithms_draw_the_same_distribution(algorithm: str, gen: torch.Generator) -> None:
    mask = drop_block_mask(
        (2048, 1, 6, 10, 10),
        0.15,
        3,
        algorithm=algorithm,  # type: ignore[arg-type]
        generator=gen,
    )
    assert abs(_fraction(mask) - 0.15) < 0.01


@pytest.mark.parametrize(
    "kwargs", [{}, {"per_channel": False}, {"batchwise": True}, {"algorithm": "dense"}]
)
def test_scaling_gradients_and_layout(kwargs: dict) -> None:
    x = (torch.rand(2, 4, 5, 8, 8) + 0.1).to(memory_format=torch.channels_last_3d)
    x.requires_grad_()
    y, keep = drop_block3d(
        x, 0.2, 3, generator=torch.Generator().manual_seed(1), return_mask=True, **kwargs
    )
    assert y.is_contiguous(memory_format=torch.channels_last_3d) or keep.shape != x.shape
    assert keep.shape == (
        1 if kwargs.get("batchwise") else 2,
        4 if kwargs.get("per_channel", True) else 1,
        5,
        8,
        8,
    )
    full = keep.expand_as(x)
    scale = full.numel() / full.sum()
    assert torch.allclose(y, x * full * scale)
    y.sum().backward()
    assert torch.allclose(x.grad, full * scale)
    # The fused path (no mask returned) gives the same values and gradients.
    x.grad = None
    y2 = drop_block3d(x, 0.2, 3, generator=torch.Generator().manual_seed(1), **kwargs)
    y2.sum().backward()
    assert torch.allclose(y2, y) and torch.allclose(x.grad, full * scale)


def test_identity_zeros_dtypes_and_generators() -> None:
    x = torch.randn(2, 3, 4, 6, 6)
    assert drop_block3d(x, 0.3, 3, training=False) is x
    assert drop_block3d(x, 0.0, 3) is x
    zeros = drop_block3d(x * 1e30, 1.0, 3)
    assert torch.equal(zeros, torch.zeros_like(x))
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        assert drop_block3d(x.to(dtype), 0.2, 3).dtype == dtype
    a = drop_block3d(x, 0.3, 2, generator=torch.Generator().manual_seed(9))
    b = drop_block3d(x, 0.3, 2, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x: drop_block3d(x[0], 0.1, 3), r"\(N, C, D, H, W\)"),
        (lambda x: drop_block3d(x, 1.5, 3), r"\bp\b"),
        (lambda x: drop_block3d(x, 0.1, 0), "block_size"),
        (lambda x: drop_block3d(x, 0.1, 3, seeding="edge"), "seeding"),
        (lambda x: drop_block3d(x, 0.1, 3, inplace=1), "inplace"),
        (lambda x: DropBlock3d(0.1, 2.5), "block_size"),
    ],
)
def test_bad_arguments_name_the_value(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(torch.ones(1, 2, 3, 4, 4))


def test_module_forms() -> None:
    m = DropBlock3d(0.2, 3, seeding="valid")
    assert "block_size=3" in repr(m) and "seeding='valid'" in repr(m)
    x = torch.ones(2, 2, 4, 6, 6)
    assert torch.equal(m.eval()(x), x)
    y = m.train()(x, torch.Generator().manual_seed(0))
    ref = drop_block3d(x, 0.2, 3, seeding="valid", generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, ref)
