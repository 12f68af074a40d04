"""DropBlock keep masks: geometry, seed draws and the renderers that grow seeds into blocks.

Everything is written per spatial axis, so 2-D (N, C, H, W) and 3-D (N, C, D, H, W) maps
share one implementation.

One random draw (``draw_seeds``) can be rendered three ways; all give the same mask for the
same seeds, they differ only in cost:

* ``table``: every seed-grid cell's clipped block is precomputed as one row of a small
  ``[cells, H*W]`` 0/1 table; a map's dropped-cell counts are the sum of its seeds' rows,
  which ``F.embedding_bag`` computes in one vectorized pass over the output. Cheapest for
  small maps (the table stays in cache), where painting spends its time on index
  arithmetic rather than on memory.
* ``paint``: storage offsets of every block cell, written by index. Follows any strides
  (channels-last) and has no table, so it serves large maps.
* ``dense`` (``dense_keep``): a full Bernoulli field, dilated one axis at a time (shifted
  ORs on the CPU, a max-pool on GPUs), which draws its own seeds. Better on GPUs and when
  blocks cover most of the map anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from ._sampling import bernoulli_indices
from .gamma import effective_block, seed_axes, seed_gamma

__all__ = [
    "Geometry",
    "Seeds",
    "dense_keep",
    "draw_seeds",
    "dropped_counts",
    "dropped_offsets",
    "table_fits",
    "window_any",
]

# Above this expected number of block cells per seed-grid cell, painting blocks one by one
# costs more than a dense field and its dilation.
SPARSE_MAX_COVER = 0.6
# Largest block table (cells x map entries) worth building: 14x14 maps with 7x7 blocks need
# 78k entries, 28x28 ones 0.9M. Beyond that (56x56: 12M) the table leaves the cache and
# painting is faster (bench/bench_dropblock.py).
_TABLE_MAX_ENTRIES = 1 << 20


class Geometry:
    """Everything about one DropBlock call that does not depend on the random draw.

    Args:
        shape: ``(N, C, *sizes)`` of the activations, with 2 (H, W) or 3 (D, H, W) sizes.
        p, block_size, gamma, seeding, per_channel, batchwise: validated DropBlock options.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        p: float,
        block_size: int,
        gamma: str,
        seeding: str,
        per_channel: bool,
        batchwise: bool,
    ) -> None:
        self.p = p
        self.block_size = block_size
        self.gamma_mode = gamma
        self.seeding = seeding
        n, c, *sizes = shape
        self.sizes: tuple[int, ...] = tuple(sizes)
        self.mask_shape: tuple[int, ...] = (
            1 if batchwise else n,
            c if per_channel else 1,
            *self.sizes,
        )
        self.planes = self.mask_shape[0] * self.mask_shape[1]
        self.plane_size = math.prod(self.sizes)
        self.blocks = effective_block(block_size, *self.sizes)
        self._gamma: float | None = None
        self._axes: tuple[tuple[int, int], ...] | None = None

    # Lazy: an eval-mode (identity) call validates its arguments but needs neither. Cached by
    # hand: functools.cached_property takes a lock on Python < 3.12, which torch.compile
    # cannot trace.
    @property
    def gamma(self) -> float:
        """Seed probability for this geometry."""
        if self._gamma is None:
            self._gamma = seed_gamma(self.p, self.blocks, self.sizes, self.gamma_mode, self.seeding)
        return self._gamma

    @property
    def axes(self) -> tuple[tuple[int, int], ...]:
        """``(grid_len, offset)`` per spatial axis, see :func:`dropcore.gamma.seed_axes`."""
        if self._axes is None:
            self._axes = seed_axes(self.sizes, self.blocks, self.seeding)
        return self._axes

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Seed-grid extent per spatial axis."""
        return tuple(length for length, _ in self.axes)

    @property
    def cells(self) -> int:
        """Seed-grid cells per map."""
        return math.prod(self.grid_shape)

    def sparse_is_cheaper(self, device: torch.device) -> bool:
        """Whether drawing seeds one by one beats a dense field on ``device``."""
        cover = self.gamma  # expected block cells per seed-grid cell
        for block in self.blocks:
            cover *= block
        return device.type == "cpu" and cover <= SPARSE_MAX_COVER


@dataclass(frozen=True)
class Seeds:
    """One draw of DropBlock seeds, sorted by map.

    Attributes:
        plane (Tensor[K]): int64 index of the map (``n * mask_c + c``) holding each seed.
        cell (Tensor[K]): int64 row-major seed-grid cell within that map.
    """

    plane: torch.Tensor
    cell: torch.Tensor

    def __len__(self) -> int:
        return self.plane.numel()


def draw_seeds(geo: Geometry, device: torch.device, generator: torch.Generator | None) -> Seeds:
    """Bernoulli(``geo.gamma``) seeds over every map's seed grid, drawn sparsely."""
    flat = bernoulli_indices(geo.planes * geo.cells, geo.gamma, device=device, generator=generator)
    plane = torch.div(flat, geo.cells, rounding_mode="floor")
    return Seeds(plane, flat - plane * geo.cells)


def table_fits(geo: Geometry) -> bool:
    """Whether the ``table`` renderer applies (its table is small enough to stay cached)."""
    return geo.cells * geo.plane_size <= _TABLE_MAX_ENTRIES


@lru_cache(maxsize=32)
def _block_table(
    sizes: tuple[int, ...],
    blocks: tuple[int, ...],
    axes: tuple[tuple[int, int], ...],
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """Tensor[cells, prod(sizes)]: row ``cell`` is 1 on the (clipped) block of that seed.

    Read-only once built; cached because every call with this geometry shares it.
    """

    def covers(cells: int, offset: int, extent: int, length: int) -> torch.Tensor:
        # [cells, length]: seed cell s covers index i when s + offset <= i < s + offset + extent.
        start = torch.arange(cells, device=device).unsqueeze(1) + offset
        idx = torch.arange(length, device=device)
        return (idx >= start) & (idx < start + extent)

    table: torch.Tensor | None = None
    for size, block, (cells, offset) in zip(sizes, blocks, axes, strict=True):
        axis = covers(cells, offset, block, size)
        if table is None:
            table = axis
        else:
            # Outer AND with the axes so far, row-major in both cells and map entries.
            table = (table[:, None, :, None] & axis[None, :, None, :]).flatten(2).flatten(0, 1)
    assert table is not None  # a map has at least one axis
    return table.to(dtype)


def dropped_counts(
    geo: Geometry, seeds: Seeds, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``table`` renderer: how many blocks cover each cell (0 = kept).

    Returns:
        Tensor[planes, prod(sizes)] of ``dtype`` (a fresh, contiguous tensor the caller may
        overwrite), with ``planes = mask_N * mask_C`` in row-major mask order.
    """
    table = _block_table(geo.sizes, geo.blocks, geo.axes, dtype, device)
    per_plane = torch.bincount(seeds.plane, minlength=geo.planes)
    # Exclusive prefix sum: where each map's seeds start; maps without seeds are empty bags,
    # which sum to zeros.
    starts = per_plane.cumsum(0).sub_(per_plane)
    return F.embedding_bag(seeds.cell, table, starts, mode="sum")


def dropped_offsets(geo: Geometry, seeds: Seeds, strides: tuple[int, ...]) -> torch.Tensor:
    """``paint`` renderer: storage offsets (for a tensor of ``geo.mask_shape`` with
    ``strides``) of every dropped cell; a cell covered by several blocks may repeat.

    Returns:
        Tensor[K * prod(blocks)] of int64.
    """
    if len(seeds) == 0:
        return seeds.plane
    device = seeds.plane.device
    mask_c = geo.mask_shape[1]
    s_n, s_c, *spatial_strides = strides
    # Row-major cell -> per-axis seed index, last axis first.
    rest = seeds.cell
    coords: list[torch.Tensor] = []
    for length, _ in reversed(geo.axes[1:]):
        outer = torch.div(rest, length, rounding_mode="floor")
        coords.append(rest - outer * length)
        rest = outer
    coords.append(rest)
    coords.reverse()
    if mask_c == 1:
        base = seeds.plane * s_n
    else:
        sample = torch.div(seeds.plane, mask_c, rounding_mode="floor")
        base = sample * s_n + (seeds.plane - sample * mask_c) * s_c
    offsets: torch.Tensor | None = None
    for coord, (_, offset), block, size, stride in zip(
        coords, geo.axes, geo.blocks, geo.sizes, spatial_strides, strict=True
    ):
        # Clamping instead of masking is exact: every seed's block intersects the map, so a
        # clamped index lands on a cell that the same block covers anyway.
        line = coord.unsqueeze(1) + torch.arange(offset, offset + block, device=device)
        line = line.clamp_(0, size - 1).mul_(stride)  # [K, block]
        if offsets is None:
            offsets = line.add_(base.unsqueeze(1))
        else:
            offsets = offsets.flatten(1).unsqueeze(2) + line.unsqueeze(1)
    assert offsets is not None
    return offsets.view(-1)  # [K * prod(blocks)]


def dense_keep(
    geo: Geometry, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Bool keep mask of ``geo.mask_shape`` from a dense Bernoulli field, dilated by each
    axis's block length (a cell is dropped when a seed lies in its window)."""
    noise = torch.rand(geo.planes, 1, *geo.grid_shape, device=device, generator=generator)
    seeds = noise < geo.gamma
    if geo.seeding == "valid":
        # Seed at r covers r..r+b-1; padding turns that into a window ending at r.
        pads = [pad for block in reversed(geo.blocks) for pad in (block - 1, block - 1)]
        seeds = F.pad(seeds, pads)
    if device.type == "cuda":
        dropped = _pooled(seeds, geo.blocks)
    else:
        dropped = seeds
        for axis, block in enumerate(geo.blocks):
            dropped = window_any(dropped, block, 2 + axis)
    return dropped.logical_not().view(geo.mask_shape)


def window_any(x: torch.Tensor, block: int, dim: int) -> torch.Tensor:
    """``out[i] = x[i] | ... | x[i + block - 1]`` along ``dim`` of a bool tensor (length
    ``len - block + 1``): a max-pool of stride 1, by ORs of shifted views.

    On the CPU this is 6-40x faster than ``max_pool2d`` for DropBlock's seed fields (many
    small planes). Windows double in ``log2(block)`` steps, and a length that is not a
    power of two is the OR of two overlapping windows.
    """
    out_len = x.shape[dim] - block + 1
    if out_len < 1:
        raise ValueError(f"window of {block} is longer than dim {dim} ({x.shape[dim]})")
    window, span = x, 1
    while span * 2 <= block:
        length = window.shape[dim] - span
        window = window.narrow(dim, 0, length) | window.narrow(dim, span, length)
        span *= 2
    if span == block:
        return window.narrow(dim, 0, out_len)
    return window.narrow(dim, 0, out_len) | window.narrow(dim, block - span, out_len)


def _pooled(seeds: torch.Tensor, blocks: tuple[int, ...]) -> torch.Tensor:
    # GPUs: one separable max-pool per axis; float16 halves the memory traffic.
    pool = F.max_pool2d if len(blocks) == 2 else F.max_pool3d
    dropped = seeds.to(torch.float16)
    for axis, block in enumerate(blocks):
        kernel = tuple(block if i == axis else 1 for i in range(len(blocks)))
        dropped = pool(dropped, kernel_size=kernel, stride=1)
    return dropped != 0
