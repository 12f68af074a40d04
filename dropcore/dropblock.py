"""DropBlock (Ghiasi, Lin, Le, NeurIPS 2018) with exact drop rates and fast masks."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._sampling import bernoulli_indices
from ._validate import (
    check_block_size,
    check_choice,
    check_floating,
    check_generator,
    check_ndim,
    check_probability,
)
from .gamma import GAMMA_MODES, SEEDINGS, GammaMode, Seeding, block_gamma, effective_block, seed_grid
from ._masking import apply_keep_mask, identity_result

__all__ = ["ALGORITHMS", "DropBlock2d", "drop_block", "drop_block_mask"]

Algorithm = Literal["auto", "sparse", "dense"]
ALGORITHMS: tuple[str, ...] = ("auto", "sparse", "dense")

# Above this expected number of block cells per seed-grid cell, painting blocks one by one
# costs more than a dense field plus a max-pool (measured in bench/bench_dropblock.py).
_SPARSE_MAX_COVER = 0.6


def _paint_sparse(
    planes: int,
    height: int,
    width: int,
    bh: int,
    bw: int,
    gamma: float,
    seeding: str,
    device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    grid_h, grid_w, off_h, off_w = seed_grid(height, width, bh, bw, seeding)
    plane_cells = grid_h * grid_w
    seeds = bernoulli_indices(planes * plane_cells, gamma, device=device, generator=generator)
    hw = height * width
    # One spare cell at the end absorbs writes for block cells clipped by the border, so
    # no boolean compaction of the index tensor is needed.
    keep = torch.ones(planes * hw + 1, dtype=torch.bool, device=device)
    if seeds.numel():
        plane, cell = torch.div(seeds, plane_cells, rounding_mode="floor"), seeds % plane_cells
        top = torch.div(cell, grid_w, rounding_mode="floor") + off_h
        left = cell % grid_w + off_w
        rows = top.unsqueeze(1) + torch.arange(bh, device=device)  # [K, bh]
        cols = left.unsqueeze(1) + torch.arange(bw, device=device)  # [K, bw]
        flat = (plane * hw).unsqueeze(1) + rows * width  # [K, bh]
        flat = flat.unsqueeze(2) + cols.unsqueeze(1)  # [K, bh, bw]
        if seeding == "uniform":
            inside = ((rows >= 0) & (rows < height)).unsqueeze(2) & (
                (cols >= 0) & (cols < width)
            ).unsqueeze(1)
            flat = torch.where(inside, flat, planes * hw)
        keep[flat.view(-1)] = False
    return keep[:-1].view(planes, height, width)


def _paint_dense(
    planes: int,
    height: int,
    width: int,
    bh: int,
    bw: int,
    gamma: float,
    seeding: str,
    device: torch.device,
    generator: torch.Generator | None,
) -> torch.Tensor:
    grid_h, grid_w, _, _ = seed_grid(height, width, bh, bw, seeding)
    # float16 halves memory traffic on GPUs; CPU max-pool has no half kernel everywhere.
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    noise = torch.rand(planes, 1, grid_h, grid_w, device=device, generator=generator)
    seeds = (noise < gamma).to(dtype)
    if seeding == "valid":
        # Seed at r covers rows r..r+bh-1; padding turns that into a window ending at r.
        seeds = F.pad(seeds, (bw - 1, bw - 1, bh - 1, bh - 1))
    # Separable max-pool: (bh + bw) comparisons per cell instead of bh * bw.
    dropped = F.max_pool2d(seeds, kernel_size=(bh, 1), stride=1)
    dropped = F.max_pool2d(dropped, kernel_size=(1, bw), stride=1)
    return (dropped == 0).view(planes, height, width)


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
    """Boolean DropBlock keep mask (True = kept) for an input of ``shape``.

    Args:
        shape: ``(N, C, H, W)`` of the activations the mask is for.
        p, block_size, gamma, seeding, per_channel, batchwise: see :func:`drop_block`.
        device: where the mask is made.
        generator: optional source of randomness on ``device``.
        algorithm: ``"sparse"`` (geometric seed gaps, blocks painted by index),
            ``"dense"`` (Bernoulli field + separable max-pool) or ``"auto"``. Both give the
            same distribution; they differ only in speed.

    Returns:
        Tensor[N or 1, C or 1, H, W] of bool.
    """
    p = check_probability(p)
    bs = check_block_size(block_size)
    check_choice(gamma, "gamma", GAMMA_MODES)
    check_choice(seeding, "seeding", SEEDINGS)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    device = torch.device(device)
    check_generator(generator, device, "drop_block")
    n, c, height, width = shape
    mask_n = 1 if batchwise else n
    mask_c = c if per_channel else 1
    bh, bw = effective_block(bs, height, width)
    g = block_gamma(p, bs, height, width, gamma=gamma, seeding=seeding)
    if algorithm == "auto":
        sparse = device.type == "cpu" and g * bh * bw <= _SPARSE_MAX_COVER
        algorithm = "sparse" if sparse else "dense"
    paint = _paint_sparse if algorithm == "sparse" else _paint_dense
    keep = paint(mask_n * mask_c, height, width, bh, bw, g, seeding, device, generator)
    return keep.view(mask_n, mask_c, height, width)


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
        block_size: block edge (>= 1). Even sizes put the extra row/column after the centre
            (centre at ``(bs - 1) // 2``); blocks larger than the map are clipped to it.
        gamma: ``"exact"`` (expected dropped fraction equals ``p``) or ``"paper"``.
        seeding: ``"uniform"`` (every pixel equally likely dropped) or ``"valid"`` (paper:
            seeds only where a whole block fits; centre-biased).
        per_channel: one mask per channel (paper's Algorithm 1) or one shared by all channels.
        batchwise: one mask for the whole batch instead of one per sample.
        training: identity when False.
        generator: optional ``torch.Generator`` on ``x``'s device.
        return_mask: also return the 0/1 keep mask (before rescaling).
        algorithm: mask construction, see :func:`drop_block_mask`.

    Returns:
        Tensor[N, C, H, W] like ``x``, or ``(y, keep_mask)`` with ``keep_mask`` of shape
        ``[N or 1, C or 1, H, W]`` in ``x.dtype``.
    """
    check_ndim(x, 4, "drop_block", "(N, C, H, W)")
    check_floating(x, "drop_block")
    p = check_probability(p)
    check_block_size(block_size)
    check_choice(gamma, "gamma", GAMMA_MODES)
    check_choice(seeding, "seeding", SEEDINGS)
    check_choice(algorithm, "algorithm", ALGORITHMS)
    check_generator(generator, x.device, "drop_block")
    n, c, height, width = x.shape
    mask_shape = (1 if batchwise else n, c if per_channel else 1, height, width)
    if not training or p == 0.0:
        return identity_result(x, mask_shape, return_mask)
    keep = drop_block_mask(
        (n, c, height, width), p, block_size, gamma=gamma, seeding=seeding,
        per_channel=per_channel, batchwise=batchwise, device=x.device,
        generator=generator, algorithm=algorithm,
    )
    kept = keep.count_nonzero()
    # count/sum normalisation; clamp keeps an all-dropped mask finite (scale unused then).
    scale = keep.numel() / kept.clamp_min(1).to(torch.float32)
    return apply_keep_mask(x, keep, scale, return_mask)


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
