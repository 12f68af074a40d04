"""DropBlock keep masks: geometry, seed draws and the renderers that grow seeds into blocks.

One random draw (``draw_seeds``) can be rendered three ways; all give the same mask for the
same seeds, they differ only in cost:

* ``table``: every seed-grid cell's clipped block is precomputed as one row of a small
  ``[cells, H*W]`` 0/1 table; a map's dropped-cell counts are the sum of its seeds' rows,
  which ``F.embedding_bag`` computes in one vectorized pass over the output. Cheapest for
  small maps (the table stays in cache), where painting spends its time on index
  arithmetic rather than on memory.
* ``paint``: storage offsets of every block cell, written by index. Follows any strides
  (channels-last) and has no table, so it serves large maps.
* ``dense`` (``dense_keep``): a full Bernoulli field plus a separable max-pool, which draws
  its own seeds. Better on GPUs and when blocks cover most of the map anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch
import torch.nn.functional as F

from .gamma import block_gamma, effective_block, seed_grid
from ._sampling import bernoulli_indices

__all__ = ["Geometry", "Seeds", "dense_keep", "draw_seeds", "dropped_counts",
           "dropped_offsets", "table_fits"]

# Above this expected number of block cells per seed-grid cell, painting blocks one by one
# costs more than a dense field plus a max-pool.
SPARSE_MAX_COVER = 0.6
# Largest block table (cells x H*W entries) worth building: 14x14 maps with 7x7 blocks need
# 78k entries, 28x28 ones 0.9M. Beyond that (56x56: 12M) the table leaves the cache and
# painting is faster (bench/bench_dropblock.py).
_TABLE_MAX_ENTRIES = 1 << 20


@lru_cache(maxsize=1024)
def _gamma(p: float, block_size: int, height: int, width: int, mode: str, seeding: str) -> float:
    # Arguments are validated by the caller; training loops and the probe repeat the same
    # few geometries thousands of times, so the (numpy) solve runs once per geometry.
    return block_gamma(p, block_size, height, width, gamma=mode, seeding=seeding)  # type: ignore[arg-type]


class Geometry:
    """Everything about one DropBlock call that does not depend on the random draw."""

    def __init__(
        self, shape: tuple[int, int, int, int], p: float, block_size: int, gamma: str,
        seeding: str, per_channel: bool, batchwise: bool,
    ) -> None:
        self.p = p
        self.block_size = block_size
        self.gamma_mode = gamma
        self.seeding = seeding
        n, c, self.height, self.width = shape
        self.mask_shape = (1 if batchwise else n, c if per_channel else 1, self.height, self.width)
        self.planes = self.mask_shape[0] * self.mask_shape[1]
        self.bh, self.bw = effective_block(block_size, self.height, self.width)

    # Lazy: an eval-mode (identity) call validates its arguments but needs neither.
    @cached_property
    def gamma(self) -> float:
        """Seed probability for this geometry."""
        return _gamma(self.p, self.block_size, self.height, self.width, self.gamma_mode,
                      self.seeding)

    @cached_property
    def grid(self) -> tuple[int, int, int, int]:
        """``(grid_h, grid_w, row_offset, col_offset)``, see :func:`seed_grid`."""
        return seed_grid(self.height, self.width, self.bh, self.bw, self.seeding)

    @property
    def cells(self) -> int:
        """Seed-grid cells per map."""
        return self.grid[0] * self.grid[1]

    def sparse_is_cheaper(self, device: torch.device) -> bool:
        """Whether drawing seeds one by one beats a dense field on ``device``."""
        return device.type == "cpu" and self.gamma * self.bh * self.bw <= SPARSE_MAX_COVER


@dataclass(frozen=True)
class Seeds:
    """One draw of DropBlock seeds, sorted by map.

    Attributes:
        plane (Tensor[K]): int64 index of the map (``n * mask_c + c``) holding each seed.
        cell (Tensor[K]): int64 seed-grid cell (``row * grid_w + col``) within that map.
    """

    plane: torch.Tensor
    cell: torch.Tensor

    def __len__(self) -> int:
        return self.plane.numel()


def draw_seeds(geo: Geometry, device: torch.device,
               generator: torch.Generator | None) -> Seeds:
    """Bernoulli(``geo.gamma``) seeds over every map's seed grid, drawn sparsely."""
    flat = bernoulli_indices(geo.planes * geo.cells, geo.gamma, device=device,
                             generator=generator)
    plane = torch.div(flat, geo.cells, rounding_mode="floor")
    return Seeds(plane, flat - plane * geo.cells)


def table_fits(geo: Geometry) -> bool:
    """Whether the ``table`` renderer applies (its table is small enough to stay cached)."""
    return geo.cells * geo.height * geo.width <= _TABLE_MAX_ENTRIES


@lru_cache(maxsize=32)
def _block_table(
    height: int, width: int, bh: int, bw: int, grid: tuple[int, int, int, int],
    dtype: torch.dtype, device: torch.device,
) -> torch.Tensor:
    """Tensor[cells, H * W]: row ``r * grid_w + c`` is 1 on the (clipped) block of that seed.

    Read-only once built; cached because every call with this geometry shares it.
    """
    grid_h, grid_w, off_h, off_w = grid

    def covers(cells: int, offset: int, extent: int, length: int) -> torch.Tensor:
        # [cells, length]: seed cell s covers index i when s + offset <= i < s + offset + extent.
        start = torch.arange(cells, device=device).unsqueeze(1) + offset
        idx = torch.arange(length, device=device)
        return (idx >= start) & (idx < start + extent)

    rows = covers(grid_h, off_h, bh, height)
    cols = covers(grid_w, off_w, bw, width)
    table = rows[:, None, :, None] & cols[None, :, None, :]
    return table.reshape(grid_h * grid_w, height * width).to(dtype)


def dropped_counts(geo: Geometry, seeds: Seeds, dtype: torch.dtype,
                   device: torch.device) -> torch.Tensor:
    """``table`` renderer: how many blocks cover each cell (0 = kept).

    Returns:
        Tensor[planes, H * W] of ``dtype`` (a fresh, contiguous tensor the caller may
        overwrite), with ``planes = mask_N * mask_C`` in row-major mask order.
    """
    table = _block_table(geo.height, geo.width, geo.bh, geo.bw, geo.grid, dtype, device)
    per_plane = torch.bincount(seeds.plane, minlength=geo.planes)
    # Exclusive prefix sum: where each map's seeds start; maps without seeds are empty bags,
    # which sum to zeros.
    starts = per_plane.cumsum(0).sub_(per_plane)
    return F.embedding_bag(seeds.cell, table, starts, mode="sum")


def dropped_offsets(geo: Geometry, seeds: Seeds, strides: tuple[int, ...]) -> torch.Tensor:
    """``paint`` renderer: storage offsets (for a tensor of ``geo.mask_shape`` with
    ``strides``) of every dropped cell; a cell covered by several blocks may repeat.

    Returns:
        Tensor[K * bh * bw] of int64.
    """
    if len(seeds) == 0:
        return seeds.plane
    device = seeds.plane.device
    mask_c, height, width = geo.mask_shape[1:]
    grid_w, off_h, off_w = geo.grid[1:]
    top = torch.div(seeds.cell, grid_w, rounding_mode="floor")
    left = seeds.cell - top * grid_w
    s_n, s_c, s_h, s_w = strides
    # Clamping instead of masking is exact: every seed's block intersects the map, so a
    # clamped row/column index lands on a cell that the same block covers anyway.
    rows = top.unsqueeze(1) + torch.arange(off_h, off_h + geo.bh, device=device)
    cols = left.unsqueeze(1) + torch.arange(off_w, off_w + geo.bw, device=device)
    rows = rows.clamp_(0, height - 1).mul_(s_h)
    cols = cols.clamp_(0, width - 1).mul_(s_w)
    if mask_c == 1:
        base = seeds.plane * s_n
    else:
        sample = torch.div(seeds.plane, mask_c, rounding_mode="floor")
        base = sample * s_n + (seeds.plane - sample * mask_c) * s_c
    row_base = rows.add_(base.unsqueeze(1))  # [K, bh]
    return (row_base.unsqueeze(2) + cols.unsqueeze(1)).view(-1)  # [K * bh * bw]


def dense_keep(geo: Geometry, device: torch.device,
               generator: torch.Generator | None) -> torch.Tensor:
    """Bool keep mask of ``geo.mask_shape`` from a dense Bernoulli field and a max-pool."""
    grid_h, grid_w, _, _ = geo.grid
    # float16 halves memory traffic on GPUs; CPU max-pool lacks half kernels on some builds.
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    noise = torch.rand(geo.planes, 1, grid_h, grid_w, device=device, generator=generator)
    seeds = (noise < geo.gamma).to(dtype)
    if geo.seeding == "valid":
        # Seed at r covers rows r..r+bh-1; padding turns that into a window ending at r.
        seeds = F.pad(seeds, (geo.bw - 1, geo.bw - 1, geo.bh - 1, geo.bh - 1))
    # Separable max-pool: bh + bw comparisons per cell instead of bh * bw.
    dropped = F.max_pool2d(seeds, kernel_size=(geo.bh, 1), stride=1)
    dropped = F.max_pool2d(dropped, kernel_size=(1, geo.bw), stride=1)
    return (dropped == 0).view(geo.mask_shape)
