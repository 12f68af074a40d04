"""3-D DropBlock: zero ``block_size``-cubes of volumetric features (N, C, D, H, W).

Same guarantees as :func:`dropcore.drop_block`, axis by axis: exact gamma, uniform or valid
seeding, any block size (clipped to the map per axis), generators, fast sparse masks
(``torchvision.ops.drop_block3d`` is the peer).
"""

from __future__ import annotations

from typing import Literal, overload

import torch

from ._block_apply import Algorithm, check_input, checked_geometry
from ._block_apply import drop_block_nd as _drop_block_nd
from ._validate import check_flag
from .dropblock import DropBlockBase
from .gamma import GammaMode, Seeding

__all__ = ["DropBlock3d", "drop_block3d"]


@overload
def drop_block3d(
    x: torch.Tensor,
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = ...,
    seeding: Seeding = ...,
    per_channel: bool = ...,
    batchwise: bool = ...,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[False] = ...,
    inplace: bool = ...,
    algorithm: Algorithm = ...,
) -> torch.Tensor: ...
@overload
def drop_block3d(
    x: torch.Tensor,
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = ...,
    seeding: Seeding = ...,
    per_channel: bool = ...,
    batchwise: bool = ...,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[True],
    inplace: bool = ...,
    algorithm: Algorithm = ...,
) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def drop_block3d(
    x: torch.Tensor,
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = ...,
    seeding: Seeding = ...,
    per_channel: bool = ...,
    batchwise: bool = ...,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: bool,
    inplace: bool = ...,
    algorithm: Algorithm = ...,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...
def drop_block3d(
    x: torch.Tensor,
    p: float,
    block_size: int,
    *,
    gamma: GammaMode = "exact",
    seeding: Seeding = "uniform",
    per_channel: bool = True,
    batchwise: bool = False,
    training: bool = True,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
    inplace: bool = False,
    algorithm: Algorithm = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """DropBlock on volumes: zero ``block_size`` cubes (clipped to the map per axis).

    Args:
        x (Tensor[N, C, D, H, W]): activations (any float dtype, device or memory format,
            channels_last_3d preserved).
        p, block_size, gamma, seeding, per_channel, batchwise, training, generator,
            return_mask, inplace, algorithm: as :func:`dropcore.drop_block`, per axis.

    Returns:
        Tensor[N, C, D, H, W] like ``x``, or ``(y, keep_mask)`` with ``keep_mask`` of shape
        ``[N or 1, C or 1, D, H, W]`` in ``x.dtype``.
    """
    x = check_input(x, 5, "drop_block3d")
    geo, algo = checked_geometry(
        tuple(x.shape),
        p,
        block_size,
        gamma,
        seeding,
        per_channel,
        batchwise,
        algorithm,
        x.device,
        generator,
        "drop_block3d",
    )
    return _drop_block_nd(
        x,
        geo,
        algo,
        training=training,
        generator=generator,
        return_mask=return_mask,
        inplace=check_flag(inplace, "inplace"),
    )


# FX: one leaf node per call, as for drop_block.
torch.fx.wrap("drop_block3d")


class DropBlock3d(DropBlockBase):
    """Module form of :func:`drop_block3d`; stores hyperparameters only.

    Args: as :func:`drop_block3d` (``p``, ``block_size`` and the keyword options).
    """

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, C, D, H, W]) -> Tensor[N, C, D, H, W]."""
        return drop_block3d(
            x,
            self.p,
            self.block_size,
            gamma=self.gamma,
            seeding=self.seeding,
            per_channel=self.per_channel,
            batchwise=self.batchwise,
            training=self.training,
            generator=generator,
            inplace=self.inplace,
        )
