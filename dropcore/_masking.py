"""Applying a keep mask: shared by every activation regularizer."""

from __future__ import annotations

import torch

__all__ = ["apply_keep_mask", "identity_result", "zeros_like_graph"]


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


def apply_keep_mask(
    x: torch.Tensor,
    keep: torch.Tensor,
    scale: torch.Tensor | float,
    return_mask: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``y = x * keep * scale`` in one pass over ``x``.

    Args:
        x (Tensor[N, ...]): input.
        keep (Tensor[broadcastable to x] of bool): True where kept.
        scale: rescaling of kept values (0-d tensor or float).
        return_mask: also return ``keep`` as 0/1 in ``x.dtype``.
    """
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    if not isinstance(scale, torch.Tensor):
        scale = torch.tensor(scale, device=x.device)
    # Folding the scale into the (often smaller) mask first means x is read exactly once.
    factor = torch.where(keep, scale.to(x.dtype), zero)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        factor = factor.contiguous(memory_format=torch.channels_last) if factor.shape == x.shape else factor
    y = x * factor
    if return_mask:
        return y, keep.to(x.dtype)
    return y
