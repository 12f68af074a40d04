"""Exact sparse Bernoulli sampling.

A Bernoulli(g) field over M cells with g ~ 0.002 (typical DropBlock seeds) has ~M*g
successes. Drawing M uniforms to find them is what makes the public DropBlock
implementations slow. The gaps between successes of a Bernoulli process are i.i.d.
Geometric(g), so drawing ~M*g gaps and taking their cumulative sum yields the *same
distribution* of success positions at O(M*g) cost.
"""

from __future__ import annotations

import math

import torch

__all__ = ["bernoulli_indices"]


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
