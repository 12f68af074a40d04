"""Seed rate (gamma) and analytic drop statistics for DropBlock.

DropBlock draws Bernoulli(gamma) *seeds* on a grid and grows each into a block. Two seed
grids exist:

* ``"valid"`` (the paper): seeds only where a whole block fits, a
  ``(H - bh + 1) x (W - bw + 1)`` grid. Border pixels are covered by fewer seed
  positions than central ones, so they are dropped less often (centre bias).
* ``"uniform"``: seeds on the extended ``(H + bh - 1) x (W + bw - 1)`` grid, blocks clipped
  at the border. Every pixel is covered by exactly ``bh * bw`` seed positions, so every
  pixel is dropped with the same probability ``1 - (1 - gamma) ** (bh * bw)``.

Because seeds are independent, pixel ``(i, j)`` is dropped with probability
``1 - (1 - gamma) ** (c_i * c_j)`` where ``c_i`` counts the seed rows whose block covers
row ``i``. Everything here follows from that identity; nothing is estimated.

A ``block_size`` larger than the map is clipped to the map per axis (``bh = min(bs, H)``,
``bw = min(bs, W)``), so a block never exceeds the feature map and the formulas stay finite.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from ._validate import check_block_size, check_choice, check_probability

__all__ = [
    "GAMMA_MODES",
    "SEEDINGS",
    "GammaMode",
    "Seeding",
    "block_gamma",
    "coverage_counts",
    "drop_probability_map",
    "effective_block",
    "expected_drop_fraction",
    "seed_grid",
]

GammaMode = Literal["exact", "paper"]
Seeding = Literal["uniform", "valid"]
GAMMA_MODES: tuple[str, ...] = ("exact", "paper")
SEEDINGS: tuple[str, ...] = ("uniform", "valid")


def _check_map(height: object, width: object) -> tuple[int, int]:
    return check_block_size(height, "height"), check_block_size(width, "width")


def effective_block(block_size: int, height: int, width: int) -> tuple[int, int]:
    """Block extent per axis after clipping to the map: ``(min(bs, H), min(bs, W))``."""
    return min(block_size, height), min(block_size, width)


def seed_grid(
    height: int, width: int, bh: int, bw: int, seeding: str
) -> tuple[int, int, int, int]:
    """Seed grid geometry.

    Returns:
        ``(grid_h, grid_w, row_offset, col_offset)``: a seed at grid cell ``(r, c)`` drops
        rows ``r + row_offset .. r + row_offset + bh - 1`` (and likewise columns), clipped
        to the map.
    """
    if seeding == "valid":
        return height - bh + 1, width - bw + 1, 0, 0
    return height + bh - 1, width + bw - 1, -(bh - 1), -(bw - 1)


def coverage_counts(length: int, block: int, seeding: str) -> np.ndarray:
    """Number of seed positions along one axis whose block covers each index.

    Returns:
        ``int64[length]``; constant ``block`` for uniform seeding, a tent for valid seeding.
    """
    if seeding == "uniform":
        return np.full(length, block, dtype=np.int64)
    idx = np.arange(length)
    last_seed = length - block
    return np.minimum(idx, last_seed) - np.maximum(0, idx - block + 1) + 1


def _paper_gamma(p: float, bh: int, bw: int, height: int, width: int) -> float:
    # Ghiasi et al. 2018, eq. (1), with the clipped per-axis block extents.
    valid = (height - bh + 1) * (width - bw + 1)
    return p / (bh * bw) * (height * width) / valid


def _fraction(gamma: float, rows: np.ndarray, cols: np.ndarray) -> float:
    cover = np.multiply.outer(rows, cols).astype(np.float64)
    return float(np.mean(-np.expm1(cover * np.log1p(-gamma)))) if gamma < 1 else 1.0


@lru_cache(maxsize=4096)
def _exact_valid_gamma(p: float, bh: int, bw: int, height: int, width: int) -> float:
    rows = coverage_counts(height, bh, "valid")
    cols = coverage_counts(width, bw, "valid")
    lo, hi = 0.0, 1.0
    # The expected fraction is continuous and strictly increasing in gamma; bisection to
    # double precision is cheap (60 halvings) and needs no derivative.
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _fraction(mid, rows, cols) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def block_gamma(
    p: float,
    block_size: int,
    height: int,
    width: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
) -> float:
    """Seed probability for DropBlock.

    Args:
        p: target drop probability (``1 - keep_prob``).
        block_size: block edge; clipped to the map per axis.
        height: feature-map height H.
        width: feature-map width W.
        gamma: ``"paper"`` for eq. (1) of the paper, ``"exact"`` for the gamma whose expected
            dropped fraction is exactly ``p`` for this geometry and seeding.
        seeding: ``"uniform"`` (extended grid) or ``"valid"`` (paper).

    Returns:
        gamma in [0, 1] (the paper formula is clamped to 1 where it exceeds it).
    """
    p = check_probability(p)
    bs = check_block_size(block_size)
    height, width = _check_map(height, width)
    check_choice(gamma, "gamma", GAMMA_MODES)
    check_choice(seeding, "seeding", SEEDINGS)
    bh, bw = effective_block(bs, height, width)
    if p == 0.0:
        return 0.0
    if gamma == "paper":
        return min(1.0, _paper_gamma(p, bh, bw, height, width))
    if p == 1.0:
        return 1.0
    if seeding == "uniform":
        # 1 - (1 - g)^(bh*bw) = p, solved in closed form.
        return float(-np.expm1(np.log1p(-p) / (bh * bw)))
    return _exact_valid_gamma(p, bh, bw, height, width)


def drop_probability_map(
    p: float,
    block_size: int,
    height: int,
    width: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
) -> torch.Tensor:
    """Analytic probability that each pixel is dropped.

    Returns:
        Tensor[H, W] (float64) with entries ``1 - (1 - gamma) ** (c_i * c_j)``.
    """
    g = block_gamma(p, block_size, height, width, gamma=gamma, seeding=seeding)
    bh, bw = effective_block(block_size, height, width)
    rows = coverage_counts(height, bh, seeding)
    cols = coverage_counts(width, bw, seeding)
    cover = np.multiply.outer(rows, cols).astype(np.float64)
    probs = np.ones_like(cover) if g >= 1 else -np.expm1(cover * np.log1p(-g))
    return torch.from_numpy(probs)


def expected_drop_fraction(
    p: float,
    block_size: int,
    height: int,
    width: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
) -> float:
    """Expected fraction of dropped elements (the mean of :func:`drop_probability_map`)."""
    return float(
        drop_probability_map(p, block_size, height, width, gamma=gamma, seeding=seeding).mean()
    )
