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

Everything holds per axis, so the same formulas serve 3-D maps (``depth=D``): the coverage
count of voxel ``(d, i, j)`` is ``c_d * c_i * c_j``.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
import torch

from ._validate import check_choice, check_positive_int, check_probability

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
    "seed_axes",
    "seed_gamma",
]

GammaMode = Literal["exact", "paper"]
Seeding = Literal["uniform", "valid"]
GAMMA_MODES: tuple[GammaMode, ...] = ("exact", "paper")
SEEDINGS: tuple[Seeding, ...] = ("uniform", "valid")


def effective_block(block_size: int, *sizes: int) -> tuple[int, ...]:
    """Block extent per axis after clipping to the map: ``min(bs, size)`` for each size."""
    return tuple(min(block_size, size) for size in sizes)


def seed_axes(
    sizes: tuple[int, ...], blocks: tuple[int, ...], seeding: str
) -> tuple[tuple[int, int], ...]:
    """Seed grid geometry, per axis.

    Returns:
        ``(grid_len, offset)`` per axis: a seed at grid index ``s`` drops indices
        ``s + offset .. s + offset + block - 1`` of that axis, clipped to the map.
    """
    if seeding == "valid":
        return tuple((size - block + 1, 0) for size, block in zip(sizes, blocks, strict=True))
    return tuple(
        (size + block - 1, -(block - 1)) for size, block in zip(sizes, blocks, strict=True)
    )


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


def _cover(sizes: tuple[int, ...], blocks: tuple[int, ...], seeding: str) -> np.ndarray:
    # float64[*sizes]: seed positions covering each pixel (the outer product of the axes).
    counts = [
        coverage_counts(size, block, seeding) for size, block in zip(sizes, blocks, strict=True)
    ]
    return functools.reduce(np.multiply.outer, counts).astype(np.float64)


def _drop_probs(gamma: float, cover: np.ndarray) -> np.ndarray:
    return np.ones_like(cover) if gamma >= 1 else -np.expm1(cover * np.log1p(-gamma))


def _paper_gamma(p: float, blocks: tuple[int, ...], sizes: tuple[int, ...]) -> float:
    # Ghiasi et al. 2018, eq. (1), with the clipped per-axis block extents.
    valid = math.prod(size - block + 1 for size, block in zip(sizes, blocks, strict=True))
    return p / math.prod(blocks) * math.prod(sizes) / valid


def _exact_valid_gamma(p: float, blocks: tuple[int, ...], sizes: tuple[int, ...]) -> float:
    cover = _cover(sizes, blocks, "valid")
    lo, hi = 0.0, 1.0
    # The expected fraction is continuous and strictly increasing in gamma; bisection to
    # double precision is cheap (60 halvings) and needs no derivative.
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(np.mean(_drop_probs(mid, cover))) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=4096)
def _seed_gamma_cached(
    p: float, blocks: tuple[int, ...], sizes: tuple[int, ...], mode: str, seeding: str
) -> float:
    if p == 0.0:
        return 0.0
    if mode == "paper":
        return min(1.0, _paper_gamma(p, blocks, sizes))
    if p == 1.0:
        return 1.0
    if seeding == "uniform":
        # 1 - (1 - g)^(prod blocks) = p, solved in closed form.
        return float(-np.expm1(np.log1p(-p) / math.prod(blocks)))
    return _exact_valid_gamma(p, blocks, sizes)


def seed_gamma(
    p: float, blocks: tuple[int, ...], sizes: tuple[int, ...], mode: str, seeding: str
) -> float:
    """Seed probability for clipped ``blocks`` on a map of ``sizes`` (arguments already
    validated). Cached: training loops and the probe repeat a few geometries thousands of
    times, and the valid-seeding solve is a bisection."""
    return _seed_gamma_cached(p, blocks, sizes, mode, seeding)


# torch.compile evaluates seed_gamma while tracing and bakes the result into the graph: it is
# a pure function of Python scalars (tracing into the cache or the numpy bisection gains
# nothing). This is exactly what torch.compiler.assume_constant_result sets; calling that
# would import torch._dynamo (seconds) on every `import dropcore`. The cache is a separate
# function because Dynamo looks through lru_cache wrappers before it checks for the mark.
seed_gamma._dynamo_marked_constant = True  # type: ignore[attr-defined]


def _checked(
    p: object,
    block_size: object,
    height: object,
    width: object,
    depth: object,
    gamma: object,
    seeding: object,
) -> tuple[float, tuple[int, ...], tuple[int, ...], GammaMode, Seeding]:
    """Validated ``(p, blocks, sizes, gamma, seeding)``; ``sizes`` is (D,) H, W."""
    p = check_probability(p)
    bs = check_positive_int(block_size, "block_size")
    sizes: tuple[int, ...] = (
        check_positive_int(height, "height"),
        check_positive_int(width, "width"),
    )
    if depth is not None:
        sizes = (check_positive_int(depth, "depth"), *sizes)
    mode = check_choice(gamma, "gamma", GAMMA_MODES)
    grid = check_choice(seeding, "seeding", SEEDINGS)
    return p, effective_block(bs, *sizes), sizes, mode, grid


def block_gamma(
    p: float,
    block_size: int,
    height: int,
    width: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    depth: int | None = None,
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
        depth: D of a 3-D map (:func:`dropcore.drop_block3d`); None for 2-D.

    Returns:
        gamma in [0, 1] (the paper formula is clamped to 1 where it exceeds it).
    """
    p, blocks, sizes, mode, grid = _checked(p, block_size, height, width, depth, gamma, seeding)
    return seed_gamma(p, blocks, sizes, mode, grid)


def drop_probability_map(
    p: float,
    block_size: int,
    height: int,
    width: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    depth: int | None = None,
) -> torch.Tensor:
    """Analytic probability that each pixel (voxel) is dropped.

    Returns:
        Tensor[H, W] (Tensor[D, H, W] with ``depth``), float64, with entries
        ``1 - (1 - gamma) ** (product of the per-axis coverage counts)``.
    """
    p, blocks, sizes, mode, grid = _checked(p, block_size, height, width, depth, gamma, seeding)
    g = seed_gamma(p, blocks, sizes, mode, grid)
    return torch.from_numpy(_drop_probs(g, _cover(sizes, blocks, grid)))


def expected_drop_fraction(
    p: float,
    block_size: int,
    height: int,
    width: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    depth: int | None = None,
) -> float:
    """Expected fraction of dropped elements (the mean of :func:`drop_probability_map`)."""
    probs = drop_probability_map(
        p, block_size, height, width, gamma=gamma, seeding=seeding, depth=depth
    )
    return float(probs.mean())
