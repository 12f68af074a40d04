"""The DropBlock mask renderers: the block table and offset painting grow the same seeds
into the same mask, for every geometry and layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dropcore._block_masks import (
    Geometry,
    Seeds,
    dense_keep,
    draw_seeds,
    dropped_counts,
    dropped_offsets,
    table_fits,
    window_any,
)

GEOMETRIES = [
    # (shape, block): square, H != W, even block, block larger than the map, 1x1 map.
    ((3, 5, 14, 14), 7),
    ((2, 4, 7, 11), 4),
    ((2, 3, 5, 9), 6),
    ((2, 3, 7, 7), 9),
    ((2, 2, 1, 1), 3),
    ((2, 3, 14, 9), 1),
]


def _painted(geo: Geometry, seeds, layout: torch.memory_format) -> torch.Tensor:
    keep = torch.ones(geo.mask_shape, dtype=torch.int32).contiguous(memory_format=layout)
    flat = keep.as_strided((keep.numel(),), (1,))
    flat[dropped_offsets(geo, seeds, keep.stride())] = 0
    return keep


@pytest.mark.parametrize("shape,block", GEOMETRIES)
@pytest.mark.parametrize("seeding", ["uniform", "valid"])
@pytest.mark.parametrize("per_channel,batchwise", [(True, False), (False, False), (True, True)])
def test_table_and_paint_render_the_same_mask(
    shape, block, seeding, per_channel, batchwise, gen: torch.Generator
) -> None:
    geo = Geometry(shape, 0.3, block, "exact", seeding, per_channel, batchwise)
    seeds = draw_seeds(geo, torch.device("cpu"), gen)
    assert len(seeds) > 0  # p = 0.3 over these maps: an empty draw would test nothing
    counts = dropped_counts(geo, seeds, torch.float32, torch.device("cpu"))
    table_keep = (counts == 0).view(geo.mask_shape).to(torch.int32)
    assert torch.equal(table_keep, _painted(geo, seeds, torch.contiguous_format))
    assert torch.equal(table_keep, _painted(geo, seeds, torch.channels_last))


def test_counts_count_overlapping_blocks() -> None:
    # Two seeds in one map whose 3x3 blocks overlap in one cell: that cell counts 2.
    geo = Geometry((1, 1, 5, 5), 0.5, 3, "exact", "valid", True, False)
    grid_w = geo.grid_shape[1]  # valid grid of a 5x5 map with 3x3 blocks is 3x3
    seeds_plane = torch.tensor([0, 0])
    seeds_cell = torch.tensor([0 * grid_w + 0, 2 * grid_w + 2])
    counts = dropped_counts(
        geo, Seeds(seeds_plane, seeds_cell), torch.float32, torch.device("cpu")
    ).view(5, 5)
    assert counts[2, 2].item() == 2
    assert counts[0, 0].item() == 1 and counts[4, 4].item() == 1
    assert counts[0, 4].item() == 0 and int((counts > 0).sum()) == 17


def test_empty_draw_renders_all_kept() -> None:
    geo = Geometry((2, 3, 14, 14), 0.0, 7, "exact", "uniform", True, False)
    seeds = draw_seeds(geo, torch.device("cpu"), None)
    assert len(seeds) == 0
    counts = dropped_counts(geo, seeds, torch.float32, torch.device("cpu"))
    assert counts.shape == (6, 196) and not counts.any()


def test_table_serves_small_maps_and_paint_large_ones() -> None:
    small = Geometry((32, 1024, 14, 14), 0.1, 7, "exact", "uniform", True, False)
    large = Geometry((32, 256, 56, 56), 0.1, 7, "exact", "uniform", True, False)
    assert table_fits(small) and not table_fits(large)


@pytest.mark.parametrize("block", range(1, 10))
@pytest.mark.parametrize("dims", [2, 3])
def test_window_any_is_a_stride_one_max_pool(block: int, dims: int, gen: torch.Generator) -> None:
    # The dense renderer's CPU dilation against the max-pool it replaced, on every axis.
    sizes = (9, 12, 10)[:dims]
    field = torch.rand(6, 1, *sizes, generator=gen) < 0.15
    pool = F.max_pool2d if dims == 2 else F.max_pool3d
    for axis in range(dims):
        kernel = tuple(block if i == axis else 1 for i in range(dims))
        expected = pool(field.float(), kernel_size=kernel, stride=1) > 0
        assert torch.equal(window_any(field, block, 2 + axis), expected)
    with pytest.raises(ValueError, match="window of 13 is longer than dim 2"):
        window_any(field, 13, 2)


@pytest.mark.parametrize("seeding", ["uniform", "valid"])
def test_dense_keep_grows_its_own_draw_into_blocks(seeding: str) -> None:
    # The same draw dilated by max-pools (the GPU path's operation) gives the CPU mask.
    geo = Geometry((2, 3, 14, 11), 0.4, 5, "exact", seeding, True, False)
    keep = dense_keep(geo, torch.device("cpu"), torch.Generator().manual_seed(3))
    seeds = (
        torch.rand(geo.planes, 1, *geo.grid_shape, generator=torch.Generator().manual_seed(3))
        < geo.gamma
    )
    if seeding == "valid":
        seeds = F.pad(seeds.float(), (4, 4, 4, 4))
    dropped = F.max_pool2d(F.max_pool2d(seeds.float(), (5, 1), stride=1), (1, 5), stride=1)
    assert torch.equal(keep, (dropped == 0).view(geo.mask_shape))
    assert 0 < (~keep).sum() < keep.numel()
