"""DropPath / stochastic depth: drop a whole residual branch per sample."""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import nn

from ._masking import bernoulli_masked, identity_result
from ._validate import check_choice, check_floating, check_generator, check_ndim, check_probability

__all__ = ["DROP_PATH_MODES", "DropPath", "drop_path", "path_mask_shape"]

DropPathMode = Literal["row", "batch"]
DROP_PATH_MODES: tuple[DropPathMode, ...] = ("row", "batch")


def path_mask_shape(shape: tuple[int, ...], mode: DropPathMode) -> tuple[int, ...]:
    """DropPath's mask shape for inputs of ``shape``: ``(N or 1, 1, ...)`` by ``mode``."""
    return (shape[0] if mode == "row" else 1, *([1] * (len(shape) - 1)))


@overload
def drop_path(
    x: torch.Tensor,
    p: float,
    *,
    mode: DropPathMode = ...,
    scale: bool = ...,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[False] = ...,
) -> torch.Tensor: ...
@overload
def drop_path(
    x: torch.Tensor,
    p: float,
    *,
    mode: DropPathMode = ...,
    scale: bool = ...,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[True],
) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def drop_path(
    x: torch.Tensor,
    p: float,
    *,
    mode: DropPathMode = ...,
    scale: bool = ...,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...
def drop_path(
    x: torch.Tensor,
    p: float,
    *,
    mode: DropPathMode = "row",
    scale: bool = True,
    training: bool = True,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Drop the whole input per sample (``mode="row"``) or for the whole batch (``"batch"``).

    Use on a residual branch: ``out = skip + drop_path(branch(x), p)``.

    Args:
        x (Tensor[N, ...]): branch output, at least 1-d.
        p: drop probability.
        mode: ``"row"`` (one draw per sample) or ``"batch"`` (one draw for the batch).
        scale: divide kept samples by keep_prob (torchvision's and timm's default).
        training: identity when False.
        generator: optional ``torch.Generator`` on ``x``'s device.
        return_mask: also return the keep mask of shape ``[N or 1, 1, ...]``.

    Returns:
        Tensor like ``x``, or ``(y, keep_mask)``.
    """
    check_ndim(x, range(1, 9), "drop_path", "(N, ...)")
    check_floating(x, "drop_path")
    p = check_probability(p)
    check_choice(mode, "mode", DROP_PATH_MODES)
    check_generator(generator, x.device, "drop_path")
    mask_shape = path_mask_shape(tuple(x.shape), mode)
    if not training or p == 0.0:
        return identity_result(x, mask_shape, return_mask)
    return bernoulli_masked(
        x, mask_shape, p, rescale=scale, generator=generator, return_mask=return_mask
    )


# FX: record calls as leaf nodes (the mask is drawn from values, not traceable).
torch.fx.wrap("drop_path")


class DropPath(nn.Module):
    """Module form of :func:`drop_path`; stores hyperparameters only."""

    def __init__(self, p: float = 0.0, *, mode: DropPathMode = "row", scale: bool = True) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.mode: DropPathMode = check_choice(mode, "mode", DROP_PATH_MODES)
        self.scale = bool(scale)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, ...]) -> Tensor[N, ...]."""
        return drop_path(
            x,
            self.p,
            mode=self.mode,
            scale=self.scale,
            training=self.training,
            generator=generator,
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}, scale={self.scale}"
