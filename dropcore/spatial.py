"""SpatialDropout (Tompson et al. 2015): drop whole channels."""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn

from ._masking import bernoulli_masked, identity_result
from ._validate import (
    check_flag,
    check_floating,
    check_generator,
    check_ndim,
    check_probability,
)

__all__ = ["SpatialDropout", "channel_mask_shape", "spatial_dropout"]


def channel_mask_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """SpatialDropout's mask shape for inputs of ``shape`` (N, C, *spatial): ``(N, C, 1, ...)``."""
    return (*shape[:2], *([1] * (len(shape) - 2)))


@overload
def spatial_dropout(
    x: torch.Tensor,
    p: float,
    *,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[False] = ...,
    inplace: bool = ...,
) -> torch.Tensor: ...
@overload
def spatial_dropout(
    x: torch.Tensor,
    p: float,
    *,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[True],
    inplace: bool = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def spatial_dropout(
    x: torch.Tensor,
    p: float,
    *,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: bool,
    inplace: bool = ...,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...
def spatial_dropout(
    x: torch.Tensor,
    p: float,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
    inplace: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Zero whole channels with probability ``p``; kept channels are scaled by 1/keep_prob.

    Args:
        x (Tensor[N, C, *spatial]): at least 3-d; dim 1 is the channel axis.
        p: drop probability per (sample, channel).
        training: identity when False.
        generator: optional ``torch.Generator`` on ``x``'s device.
        return_mask: also return the keep mask of shape ``[N, C, 1, ...]``.
        inplace: write the result into ``x`` (as ``nn.Dropout2d(inplace=True)``).

    Returns:
        Tensor like ``x``, or ``(y, keep_mask)``.
    """
    check_ndim(x, range(3, 9), "spatial_dropout", "(N, C, *spatial)")
    check_floating(x, "spatial_dropout")
    p = check_probability(p)
    check_generator(generator, x.device, "spatial_dropout")
    inplace = check_flag(inplace, "inplace")
    mask_shape = channel_mask_shape(tuple(x.shape))
    if not training or p == 0.0:
        return identity_result(x, mask_shape, return_mask)
    return bernoulli_masked(
        x,
        mask_shape,
        p,
        rescale=True,
        generator=generator,
        return_mask=return_mask,
        inplace=inplace,
    )


# FX: record calls as leaf nodes (the mask is drawn from values, not traceable).
torch.fx.wrap("spatial_dropout")


class SpatialDropout(nn.Module):
    """Module form of :func:`spatial_dropout`; stores hyperparameters only."""

    def __init__(self, p: float = 0.5, *, inplace: bool = False) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.inplace = check_flag(inplace, "inplace")

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, C, *spatial]) -> Tensor[N, C, *spatial]."""
        return spatial_dropout(
            x, self.p, training=self.training, generator=generator, inplace=self.inplace
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
