"""Bernoulli sampling: dense keep masks and sparse success positions.

Dense masks (:func:`keep_mask`). On the CPU ``Tensor.bernoulli_`` costs about 16 ns per
element (one Mersenne-Twister draw and a compare each), which makes element-wise dropout
the most expensive part of a small network's training step. The ``"fast"`` sampler draws
64-bit words instead and splits each into four 16-bit uniforms (two 32-bit ones when
``min(p, 1 - p) < 1/128``, where 16 bits would round ``p`` by more than 0.1%): the kept
probability becomes ``round(keep_prob * 2**bits) / 2**bits`` and is returned, so inverted
scaling divides by the probability actually used and ``E[y] = x`` stays exact. Elsewhere
(CUDA's Philox ``bernoulli_`` is already memory-bound) ``"fast"`` is ``bernoulli_``.
The ``"counter"`` sampler keeps the same 16/32-bit lanes but takes them from a counter-based
stream in one pass (``dropcore._counter``); on CUDA it is ``bernoulli_`` too, and under
``torch.compile`` (which cannot trace the kernel) it draws as ``"fast"``.

Sparse positions (:func:`bernoulli_indices`). A Bernoulli(g) field over M cells with
g ~ 0.002 (typical DropBlock seeds) has ~M*g successes. Drawing M uniforms to find them is
what makes the public DropBlock implementations slow. The gaps between successes of a
Bernoulli process are i.i.d. Geometric(g), so drawing ~M*g gaps and taking their cumulative
sum yields the *same distribution* of success positions at O(M*g) cost.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from ._counter import counter_applies, counter_bernoulli, lane_threshold
from ._layout import is_dense

__all__ = ["MASK_SAMPLERS", "MaskSampler", "bernoulli_indices", "keep_mask"]

MaskSampler = Literal["bernoulli", "fast", "counter"]
MASK_SAMPLERS: tuple[MaskSampler, ...] = ("bernoulli", "fast", "counter")


def keep_mask(
    like: torch.Tensor,
    shape: tuple[int, ...],
    keep_prob: float,
    *,
    generator: torch.Generator | None,
    sampler: MaskSampler,
) -> tuple[torch.Tensor, float]:
    """A 0/1 keep mask and the probability each element was really kept with.

    Args:
        like (Tensor[...]): gives the mask's dtype and device; a mask of its full shape
            also takes its memory format (channels-last stays channels-last).
        shape: the mask's shape.
        keep_prob: probability of a 1, in (0, 1).
        generator: optional source of randomness on ``like``'s device.
        sampler: ``"bernoulli"`` (``Tensor.bernoulli_``: torch's stream), ``"fast"`` or
            ``"counter"``.

    Returns:
        ``(keep, kept_prob)``: Tensor[shape] of ``like.dtype``, and ``keep_prob`` as used
        (``"fast"`` and ``"counter"`` on the CPU round it to a multiple of 2**-16 or 2**-32).
    """
    if sampler != "bernoulli" and like.device.type == "cpu":
        if sampler == "counter" and counter_applies(like.device):
            drawn = counter_bernoulli(like, shape, keep_prob, rescale=False, generator=generator)
            if drawn is not None:
                return drawn[0], drawn[2]
        lanes = lane_threshold(keep_prob)
        if lanes is not None:
            bits, threshold = lanes
            return _lanes_keep(like, shape, threshold, bits, generator), threshold / 2**bits
    keep = torch.empty(shape, dtype=like.dtype, device=like.device)
    return keep.bernoulli_(keep_prob, generator=generator), keep_prob


def _lanes_keep(
    like: torch.Tensor,
    shape: tuple[int, ...],
    threshold: int,
    bits: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """1 where a ``bits``-bit uniform integer is below ``threshold`` (see module doc)."""
    numel = math.prod(shape)
    per_word = 64 // bits
    words = torch.empty(-(-numel // per_word), dtype=torch.int64, device=like.device)
    words.random_(-(2**63), None, generator=generator)  # every one of the 64 bits uniform
    lanes = words.view(torch.int16 if bits == 16 else torch.int32)[:numel]
    # Signed lanes: u = lane + 2**(bits-1) is uniform on [0, 2**bits), so u < threshold
    # is lane < threshold - 2**(bits-1). Comparing straight into a float buffer is one
    # pass (8x faster here than a bool result converted afterwards).
    keep = torch.empty(numel, dtype=like.dtype, device=like.device)
    torch.lt(lanes, threshold - 2 ** (bits - 1), out=keep)
    if tuple(like.shape) == tuple(shape) and is_dense(like):
        # i.i.d. values in the input's layout: the multiply then streams both in order.
        return keep.as_strided(shape, like.stride())
    return keep.view(shape)


def bernoulli_indices(
    size: int,
    prob: float,
    *,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sorted indices of the successes of ``size`` independent Bernoulli(``prob``) trials.

    Args:
        size: number of trials M.
        prob: success probability in [0, 1].
        device: where the result (and the random draws) live.
        generator: optional source of randomness on ``device``.

    Returns:
        Tensor[K] of int64, strictly increasing, all in ``[0, size)``.
    """
    if prob <= 0.0 or size == 0:
        return torch.empty(0, dtype=torch.int64, device=device)
    if prob >= 1.0:
        return torch.arange(size, dtype=torch.int64, device=device)
    log_q = math.log1p(-prob)
    mean = size * prob
    # Enough gaps to pass the end with overwhelming probability; the loop covers the rest.
    chunk = int(mean + 6.0 * math.sqrt(mean) + 16)
    parts: list[torch.Tensor] = []
    last = -1
    while True:
        u = torch.rand(chunk, dtype=torch.float64, device=device, generator=generator)
        # u in [0, 1) so log1p(-u) is finite; gap >= 1 counts the trial that succeeds.
        gaps = torch.floor_(torch.log1p_(u.neg_()).div_(log_q)).add_(1).to(torch.int64)
        pos = torch.cumsum(gaps, 0).add_(last)
        end = int(pos[-1])
        if end >= size:
            parts.append(pos[: int(torch.searchsorted(pos, size))])
            break
        parts.append(pos)
        last = end
        chunk = int((size - end) * prob + 6.0 * math.sqrt((size - end) * prob) + 16)
    return parts[0] if len(parts) == 1 else torch.cat(parts)
