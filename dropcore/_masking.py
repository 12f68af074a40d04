"""Applying a keep mask: shared by every activation regularizer."""

from __future__ import annotations

import torch

__all__ = ["identity_result", "zeros_like_graph"]


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
    return x.masked_fill(torch.ones((), dtype=torch.bool, device=x.device), 0)
