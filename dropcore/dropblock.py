"""DropBlock (Ghiasi, Lin, Le, NeurIPS 2018) with exact drop rates and fast masks.

Two ways to build the same random mask (identical distribution, different cost):

* ``"sparse"``: seeds are drawn by geometric gaps (O(#seeds), see ``_sampling``) and each
  block is painted by index. Per-channel masks are painted straight into the output
  buffer, so no full-size temporary is allocated: on CPU, fresh multi-MB temporaries cost
  more in page faults than the arithmetic (measured in bench/bench_dropblock.py).
* ``"dense"``: a Bernoulli field plus a separable max-pool. Better on GPUs (one fused,
  sync-free kernel chain) and when blocks cover most of the map anyway.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._masking import identity_result
from ._sampling import bernoulli_indices
from ._validate import (
    check_block_size,
    check_choice,
    check_floating,
    check_generator,
    check_ndim,
    check_probability,
)
from .gamma import (
    GAMMA_MODES,
    SEEDINGS,
    GammaMode,
    Seeding,
    block_gamma,
    effective_block,
    seed_grid,
)

__all__ = ["ALGORITHMS", "DropBlock2d", "drop_block", "drop_block_mask"]

Algorithm = Literal["auto", "sparse", "dense"]
ALGORITHMS: tuple[str, ...] = ("auto", "sparse", "dense")

# Above this expected number of block cells per seed-grid cell, painting blocks one by one
# costs more than a dense field plus a max-pool.
_SPARSE_MAX_COVER = 0.6


class _Geometry:
    """Everything about one DropBlock call that does not depend on the random draw."""

    def __init__(
        self, shape: tuple[int, int, int, int], p: float, block_size: int, gamma: str,
        seeding: str, per_channel: bool, batchwise: bool,
    ) -> None:
        self.p = p
        self.block_size = block_size
        self.gamma_mode = gamma
        n, c, self.height, self.width = shape
        self.mask_shape = (1 if batchwise else n, c if per_channel else 1, self.height, self.width)
        self.bh, self.bw = effective_block(block_size, self.height, self.width)
        self.seeding = seeding

    # Lazy: an eval-mode (identity) call validates its arguments but needs neither.
    @cached_property
    def gamma(self) -> float:
        """Seed probability for this geometry."""
        return block_gamma(self.p, self.block_size, self.height, self.width,
                           gamma=self.gamma_mode, seeding=self.seeding)  # type: ignore[arg-type]

    @cached_property
    def grid(self) -> tuple[int, int, int, int]:
        """``(grid_h, grid_w, row_offset, col_offset)``, see :func:`seed_grid`."""
        return seed_grid(self.height, self.width, self.bh, self.bw, self.seeding)

    @classmethod
    def checked(
        cls, shape: tuple[int, int, int, int], p: object, block_size: object, gamma: object,
        seeding: object, per_channel: bool, batchwise: bool, algorithm: object,
        device: torch.device, generator: torch.Generator | None, fn: str,
    ) -> _Geometry:
        """Validate every argument (ValueErrors name the bad one), then build."""
        p = check_probability(p)
        bs = check_block_size(block_size)
        check_choice(gamma, "gamma", GAMMA_MODES)
        check_choice(seeding, "seeding", SEEDINGS)
        check_choice(algorithm, "algorithm", ALGORITHMS)
        check_generator(generator, device, fn)
        return cls(shape, p, bs, gamma, seeding, per_channel, batchwise)  # type: ignore[arg-type]

    def pick(self, algorithm: str, device: torch.device) -> str:
        if algorithm != "auto":
            return algorithm
        sparse = device.type == "cpu" and self.gamma * self.bh * self.bw <= _SPARSE_MAX_COVER
        return "sparse" if sparse else "dense"


def _dropped_offsets(
    geo: _Geometry,
    strides: tuple[int, ...],
    device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Storage offsets (for a tensor of ``geo.mask_shape`` with ``strides``) of every dropped
    cell; a cell covered by several blocks may appear more than once.

    Returns:
        Tensor[K * bh * bw] of int64.
    """
    mask_n, mask_c, height, width = geo.mask_shape
    grid_h, grid_w, off_h, off_w = geo.grid
    cells = grid_h * grid_w
    seeds = bernoulli_indices(mask_n * mask_c * cells, geo.gamma, device=device,
                              generator=generator)
    if seeds.numel() == 0:
        return seeds
    plane = torch.div(seeds, cells, rounding_mode="floor")
    cell = seeds - plane * cells
    top = torch.div(cell, grid_w, rounding_mode="floor")
    left = cell - top * grid_w
    s_n, s_c, s_h, s_w = strides
    # Clamping instead of masking is exact: every seed's block intersects the map, so a
    # clamped row/column index lands on a cell that the same block covers anyway.
    rows = (top.unsqueeze(1) + torch.arange(off_h, off_h + geo.bh, device=device))
    cols = (left.unsqueeze(1) + torch.arange(off_w, off_w + geo.bw, device=device))
    rows = rows.clamp_(0, height - 1).mul_(s_h)
    cols = cols.clamp_(0, width - 1).mul_(s_w)
    if mask_c == 1:
        base = plane * s_n
    else:
        sample = torch.div(plane, mask_c, rounding_mode="floor")
        base = sample * s_n + (plane - sample * mask_c) * s_c
    row_base = rows.add_(base.unsqueeze(1))  # [K, bh]
    return (row_base.unsqueeze(2) + cols.unsqueeze(1)).view(-1)  # [K * bh * bw]


def _dense_keep(
    geo: _Geometry, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Bool keep mask of ``geo.mask_shape`` from a dense Bernoulli field and a max-pool."""
    mask_n, mask_c, height, width = geo.mask_shape
    grid_h, grid_w, _, _ = geo.grid
    # float16 halves memory traffic on GPUs; CPU max-pool lacks half kernels on some builds.
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    noise = torch.rand(mask_n * mask_c, 1, grid_h, grid_w, device=device,
                       generator=generator)
    seeds = (noise < geo.gamma).to(dtype)
    if geo.seeding == "valid":
        # Seed at r covers rows r..r+bh-1; padding turns that into a window ending at r.
        seeds = F.pad(seeds, (geo.bw - 1, geo.bw - 1, geo.bh - 1, geo.bh - 1))
    # Separable max-pool: bh + bw comparisons per cell instead of bh * bw.
    dropped = F.max_pool2d(seeds, kernel_size=(geo.bh, 1), stride=1)
    dropped = F.max_pool2d(dropped, kernel_size=(1, geo.bw), stride=1)
    return (dropped == 0).view(geo.mask_shape)


def _scale_for(kept: torch.Tensor, total: int) -> torch.Tensor:
    # count/sum normalisation; an all-dropped mask gets scale 0 so the output is exact zeros.
    kept = kept.to(torch.float64)
    return torch.where(kept > 0, total / kept.clamp_min(1), 0.0)


def _flat(t: torch.Tensor) -> torch.Tensor:
    """1-d view of a dense, non-overlapping tensor's storage span (any memory format)."""
    return t.as_strided((t.numel(),), (1,))


def _paint(x: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``(x * keep * scale, scale)`` built in one output buffer, ``keep`` given as offsets."""
    y = torch.empty_like(x)
    flat = _flat(y)
    flat.fill_(1)
    flat[offsets] = 0
    # Native-dtype sum: float32 partial sums of 0/1 are exact far beyond any feature map;
    # half/bfloat16 would overflow or round, so they accumulate in float32.
    acc = None if x.dtype in (torch.float32, torch.float64) else torch.float32
    scale = float(_scale_for(flat.sum(dtype=acc), x.numel()))
    # One fused pass: y = 0 + scale * keep * x, written over keep.
    torch.addcmul(torch.zeros((), dtype=x.dtype, device=x.device), y, x, value=scale, out=y)
    return y, scale


class _PaintedDropBlock(torch.autograd.Function):
    """Autograd for :func:`_paint`: saves the offsets (not a full-size mask) for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y, scale = _paint(x, offsets)
        ctx.save_for_backward(offsets)
        ctx.scale = scale
        ctx.layout = x.stride()
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (offsets,) = ctx.saved_tensors
        # The offsets index the forward input's layout; build the gradient in that layout.
        out = torch.empty_strided(grad.shape, ctx.layout, dtype=grad.dtype, device=grad.device)
        out.copy_(grad)
        _flat(out)[offsets] = 0
        return out.mul_(ctx.scale), None


def _painted(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return _PaintedDropBlock.apply(x, offsets)
    return _paint(x, offsets)[0]


def drop_block_mask(
    shape: tuple[int, int, int, int],
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    per_channel: bool = True,
    batchwise: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    algorithm: Algorithm = "auto",
) -> torch.Tensor:
    """Boolean DropBlock keep mask (True = kept) for activations of ``shape``.

    Args:
        shape: ``(N, C, H, W)`` of the activations the mask is for.
        p, block_size, gamma, seeding, per_channel, batchwise: see :func:`drop_block`.
        device: where the mask is made.
        generator: optional source of randomness on ``device``.
        algorithm: ``"sparse"``, ``"dense"`` or ``"auto"``; same distribution, different cost.

    Returns:
        Tensor[N or 1, C or 1, H, W] of bool.
    """
    device = torch.device(device)
    geo = _Geometry.checked(tuple(shape), p, block_size, gamma, seeding, per_channel,
                            batchwise, algorithm, device, generator, "drop_block_mask")
    if geo.pick(algorithm, device) == "dense":
        return _dense_keep(geo, device, generator)
    keep = torch.ones(geo.mask_shape, dtype=torch.bool, device=device)
    _flat(keep)[_dropped_offsets(geo, keep.stride(), device, generator)] = False
    return keep


def drop_block(
    x: torch.Tensor,
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    per_channel: bool = True,
    batchwise: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
    algorithm: Algorithm = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """DropBlock: zero contiguous ``block_size x block_size`` regions of a feature map.

    Kept values are multiplied by ``count(mask) / sum(mask)`` (the paper's normalisation),
    so the layer keeps its mean; if everything is dropped the output is zeros.

    Args:
        x (Tensor[N, C, H, W]): activations (any float dtype, device or memory format).
        p: drop probability, ``1 - keep_prob``.
        block_size: block edge (>= 1). A seed at pixel ``c`` drops ``c - (bs - 1) // 2`` to
            ``c + bs // 2``, so even sizes put the extra row/column after the centre, as
            every seed does; blocks larger than the map are clipped to it per axis.
        gamma: ``"exact"`` (expected dropped fraction equals ``p``) or ``"paper"`` (eq. 1).
        seeding: ``"uniform"`` (every pixel equally likely dropped) or ``"valid"`` (paper:
            seeds only where a whole block fits; centre-biased).
        per_channel: one mask per channel (paper's Algorithm 1) or one shared by all channels.
        batchwise: one mask for the whole batch instead of one per sample.
        training: identity when False.
        generator: optional ``torch.Generator`` on ``x``'s device.
        return_mask: also return the 0/1 keep mask (before rescaling).
        algorithm: mask construction, see :func:`drop_block_mask`.

    Returns:
        Tensor[N, C, H, W] like ``x`` (dtype, device and memory format preserved), or
        ``(y, keep_mask)`` with ``keep_mask`` of shape ``[N or 1, C or 1, H, W]`` in
        ``x.dtype``.
    """
    check_ndim(x, 4, "drop_block", "(N, C, H, W)")
    check_floating(x, "drop_block")
    geo = _Geometry.checked(tuple(x.shape), p, block_size, gamma, seeding, per_channel,
                            batchwise, algorithm, x.device, generator, "drop_block")
    if not training or geo.p == 0.0:
        return identity_result(x, geo.mask_shape, return_mask)
    full_size = geo.mask_shape == tuple(x.shape)
    if geo.pick(algorithm, x.device) == "sparse":
        if full_size and not return_mask:
            if not _is_dense(x):
                x = x.contiguous()
            return _painted(x, _dropped_offsets(geo, x.stride(), x.device, generator))
        keep = torch.ones(geo.mask_shape, dtype=x.dtype, device=x.device)
        if full_size:
            keep = keep.to(memory_format=_memory_format(x))
        _flat(keep)[_dropped_offsets(geo, keep.stride(), x.device, generator)] = 0
    else:
        keep = _dense_keep(geo, x.device, generator).to(x.dtype)
        if full_size:
            keep = keep.contiguous(memory_format=_memory_format(x))
    scale = _scale_for(keep.sum(dtype=torch.float64), keep.numel())
    y = x * (keep * scale.to(x.dtype))
    return (y, keep) if return_mask else y


def _is_dense(x: torch.Tensor) -> bool:
    return x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class DropBlock2d(nn.Module):
    """Module form of :func:`drop_block`; stores hyperparameters only.

    ``p`` may be updated between steps (e.g. from :class:`dropcore.LinearSchedule`).
    """

    def __init__(
        self,
        p: float,
        block_size: int,
        *,
        gamma: GammaMode = "exact",
        seeding: Seeding = "uniform",
        per_channel: bool = True,
        batchwise: bool = False,
    ) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.block_size = check_block_size(block_size)
        self.gamma = check_choice(gamma, "gamma", GAMMA_MODES)
        self.seeding = check_choice(seeding, "seeding", SEEDINGS)
        self.per_channel = bool(per_channel)
        self.batchwise = bool(batchwise)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, C, H, W]) -> Tensor[N, C, H, W]."""
        return drop_block(
            x, self.p, self.block_size, gamma=self.gamma, seeding=self.seeding,
            per_channel=self.per_channel, batchwise=self.batchwise,
            training=self.training, generator=generator,
        )

    def extra_repr(self) -> str:
        return (
            f"p={self.p}, block_size={self.block_size}, gamma={self.gamma!r}, "
            f"seeding={self.seeding!r}, per_channel={self.per_channel}, "
            f"batchwise={self.batchwise}"
        )
