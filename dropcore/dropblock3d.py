"""3-D DropBlock: zero ``block_size``-cubes of volumetric features (N, C, D, H, W).

Same guarantees as :func:`dropcore.drop_block`, axis by axis: exact gamma, uniform or valid
seeding, any block size (clipped to the map per axis), generators, fast sparse masks
(``torchvision.ops.drop_block3d`` is the peer).
"""

from __future__ import annotations

import torch

from .dropblock import DropBlockBase, make_drop_block

__all__ = ["DropBlock3d", "drop_block3d"]


drop_block3d = make_drop_block(
    "drop_block3d",
    3,
    __name__,
    """DropBlock on volumes: zero ``block_size`` cubes (clipped to the map per axis).

    Args:
        x (Tensor[N, C, D, H, W]): activations (any float dtype, device or memory format,
            channels_last_3d preserved).
        p, block_size, gamma, seeding, per_channel, batchwise, training, generator,
            return_mask, inplace, algorithm: as :func:`dropcore.drop_block`, per axis.

    Returns:
        Tensor[N, C, D, H, W] like ``x``, or ``(y, keep_mask)`` with ``keep_mask`` of shape
        ``[N or 1, C or 1, D, H, W]`` in ``x.dtype``.
    """,
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
            algorithm=self.algorithm,
        )
