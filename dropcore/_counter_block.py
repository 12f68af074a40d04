"""DropBlock keep masks of 2-D maps from the counter stream (see ``dropcore._counter``).

Seeds are the successes of Bernoulli(gamma) trials over every map's seed grid, found as
geometric gaps (as in ``dropcore._sampling.bernoulli_indices``), one counter uniform per
gap: ``u_k = (word_k >> 11 + 0.5) * 2**-53``, ``gap_k = floor(log(u_k) / log(1 - gamma)) + 1``.
Each seed marks its clipped block; the mask is then written once, already scaled by
``count / kept``. The numba kernel does all of it in one call; the torch path computes
the same seeds and renders them with ``dropped_offsets``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._block_masks import Geometry, Seeds, dropped_offsets
from ._counter import NUMBA_DTYPES, call_seed, numba_kernels, torch_words
from ._layout import flat_storage
from ._masking import kept_count

__all__ = ["counter_block_keep", "torch_seed_positions"]


def torch_seed_positions(total: int, gamma: float, seed: int, device: torch.device) -> torch.Tensor:
    """Sorted flat seed-grid positions (``plane * cells + cell``) of the draw of ``seed``.

    Returns:
        Tensor[K] of int64, strictly increasing, in ``[0, total)``.
    """
    if gamma <= 0.0 or total == 0:
        return torch.empty(0, dtype=torch.int64, device=device)
    log_q = math.log1p(-gamma) if gamma < 1.0 else -math.inf
    parts: list[torch.Tensor] = []
    last, start = -1, 0
    while True:
        mean = (total - 1 - last) * gamma
        # Enough gaps to pass the end with overwhelming probability; the loop covers the rest.
        chunk = int(mean + 6.0 * math.sqrt(mean) + 16)
        words = torch_words(seed, start, chunk, device)
        start += chunk
        u = (((words >> 11) & ((1 << 53) - 1)).double() + 0.5) * 2.0**-53
        pos = (torch.floor(torch.log(u) / log_q).long() + 1).cumsum(0) + last
        end = int(pos[-1])
        if end >= total:
            parts.append(pos[: int(torch.searchsorted(pos, total))])
            return torch.cat(parts)
        parts.append(pos)
        last = end


def counter_block_keep(
    geo: Geometry,
    dtype: torch.dtype,
    strides: tuple[int, ...],
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, int]:
    """A 2-D DropBlock keep mask scaled by ``count / kept``, and the number dropped.

    Args:
        geo: the call's geometry (2 spatial axes).
        dtype: the mask's dtype.
        strides: the mask's strides (a dense layout of ``geo.mask_shape``).
        generator: source of the call's seed (a CPU generator or None).

    Returns:
        ``(mask, dropped)``: Tensor[geo.mask_shape] with ``strides``, 0 where dropped and
        ``count / kept`` elsewhere (0 everywhere when all dropped); the dropped count.
    """
    cpu = torch.device("cpu")
    seed = call_seed(generator, cpu)
    mask = torch.empty_strided(geo.mask_shape, strides, dtype=dtype)
    flat = flat_storage(mask)
    kernels = numba_kernels() if dtype in NUMBA_DTYPES else None
    if kernels is not None:
        dropped = kernels.block_keep_2d(
            flat.numpy(),
            geo.mask_shape,
            tuple(strides),
            geo.grid_shape,
            tuple(offset for _, offset in geo.axes),
            geo.blocks,
            geo.gamma,
            np.uint64(seed),
        )
        return mask, int(dropped)
    pos = torch_seed_positions(geo.planes * geo.cells, geo.gamma, seed, cpu)
    plane = torch.div(pos, geo.cells, rounding_mode="floor")
    flat.fill_(1)
    flat[dropped_offsets(geo, Seeds(plane, pos - plane * geo.cells), strides)] = 0
    kept = int(kept_count(mask))
    flat.mul_(mask.numel() / kept if kept > 0 else 0.0)
    return mask, mask.numel() - kept
