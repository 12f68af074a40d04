"""The DropBlock mask renderers: the block table and offset painting grow the same seeds
into the same mask, for every geometry and layout."""

from __future__ import annotations

import pytest
import torch

from dropcore._block_masks import (
    Geometry,
    Seeds,
    draw_seeds,
    dropped_counts,
    dropped_offsets,
    table_fits,
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
def test_table_and_paint_render_the_same_mask(shape, block, seeding, per_channel, batchwise,
                                              gen: torch.Generator) -> None:
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
    counts = dropped_counts(geo, Seeds(seeds_plane, seeds_cell), torch.float32,
                            torch.device("cpu")).view(5, 5)
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
