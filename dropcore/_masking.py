"""Applying a keep mask: shared by every activation regularizer."""

from __future__ import annotations

import torch

__all__ = ["bernoulli_masked", "identity_result", "zeros_like_graph"]


def identity_result(
    x: torch.Tensor, mask_shape: tuple[int, ...], return_mask: bool
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``x`` unchanged, with an all-ones keep mask (a zero-copy expanded view) if asked."""
    if not return_mask:
        return x
    ones = torch.ones((1,) * len(mask_shape), dtype=x.dtype, device=x.device)
    return x, ones.expand(mask_shape)


def zeros_like_graph(x: torch.Tensor) -> torch.Tensor:
    """Zeros shaped like ``x`` that stay in the autograd graph (zero gradient), even for
    inf/NaN inputs where ``x * 0`` would not be zero."""
    return x.masked_fill(_true(x), 0)


def _true(x: torch.Tensor) -> torch.Tensor:
    return torch.ones((), dtype=torch.bool, device=x.device)


def bernoulli_masked(
    x: torch.Tensor,
    mask_shape: tuple[int, ...],
    p: float,
    *,
    rescale: bool,
    generator: torch.Generator | None,
    return_mask: bool,
    inplace: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Training-time path shared by the Bernoulli regularizers (0 < p <= 1).

    Args:
        x (Tensor[...]): input.
        mask_shape: shape of the keep mask, broadcastable to ``x``.
        p: drop probability.
        rescale: divide kept values by keep_prob (inverted scaling).
        generator: optional source of randomness on ``x``'s device.
        return_mask: also return the 0/1 keep mask.
        inplace: write the result into ``x``. Autograd-safe: the multiply's backward needs
            only the mask, and the version counter catches a producer that needs ``x``.

    Returns:
        ``x * keep (/ keep_prob)``, or ``(y, keep)``.
    """
    if p == 1.0:
        y = x.masked_fill_(_true(x), 0) if inplace else zeros_like_graph(x)
        if return_mask:
            return y, torch.zeros(mask_shape, dtype=x.dtype, device=x.device)
        return y
    keep_prob = 1.0 - p
    keep = torch.empty(mask_shape, dtype=x.dtype, device=x.device).bernoulli_(
        keep_prob, generator=generator
    )
    if inplace:
        y = x.mul_(keep) if not rescale else x.mul_(keep).div_(keep_prob)
    elif not rescale:
        y = x * keep
    elif keep.numel() == x.numel():
        # Full-size mask: rescale the output in place rather than allocating keep / keep_prob.
        y = (x * keep).div_(keep_prob)
    else:
        y = x * (keep / keep_prob)
    return (y, keep) if return_mask else y
