"""Looking inside trained networks: Grad-CAM maps, their spread, and the mask in backward."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..dropblock import drop_block
from ..probe import ProbeSettings, probe
from ..probe.settings import Stage

__all__ = ["MaskGradient", "cam_maps", "cam_spread", "mask_gradient_demo"]

_PLAIN = ProbeSettings(method="none")


def cam_maps(model: nn.Module, images: torch.Tensor, layer: Stage = "layer4") -> torch.Tensor:
    """Grad-CAM of each image for the model's own top-1 class, upsampled to the image.

    The model is only read (the probe's functional pass): safe on a shared model.

    Args:
        model: a torchvision-style ResNet (e.g. a trained :class:`SmallResNet`).
        images (Tensor[N, C, H, W]): preprocessed images.
        layer: the stage Grad-CAM explains.

    Returns:
        Tensor[N, H, W] in [0, 1] (each map min-max scaled, bilinear to the image size).
    """
    settings = ProbeSettings(method="none", cam_layer=layer)
    maps = [probe(model, img, settings, record=False).cam_baseline for img in images]
    stacked = torch.stack(maps).unsqueeze(1)
    up = F.interpolate(stacked, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return up.squeeze(1).clamp_(0, 1)


def cam_spread(model: nn.Module, images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Share of each image where the CAM is above ``threshold`` of its peak.

    The paper's observation is that networks trained with DropBlock spread their class
    activation over more of the object; this is that spread, measured.

    Args:
        model: as :func:`cam_maps`.
        images (Tensor[N, C, H, W]): preprocessed images.
        threshold: fraction of the peak (after min-max scaling).

    Returns:
        Tensor[N] of fractions in [0, 1].
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return (cam_maps(model, images) > threshold).float().mean(dim=(1, 2))


@dataclass(frozen=True)
class MaskGradient:
    """One DropBlock forward and its backward, for checking that both use one mask.

    Attributes:
        x (Tensor[C, H, W]): the input activations.
        keep (Tensor[C, H, W]): the forward's 0/1 keep mask.
        grad (Tensor[C, H, W]): d(sum(y * w))/dx for random weights ``w``.
        scale: the forward's count/sum rescaling.
    """

    x: torch.Tensor
    keep: torch.Tensor
    grad: torch.Tensor
    scale: float

    @property
    def zero_where_dropped(self) -> bool:
        """The gradient is exactly 0 at every dropped position."""
        return bool((self.grad[self.keep == 0] == 0).all())

    @property
    def nonzero_where_kept(self) -> bool:
        """...and non-zero at every kept position (the weights are never 0)."""
        return bool((self.grad[self.keep == 1] != 0).all())


def mask_gradient_demo(
    seed: int = 0, p: float = 0.25, block_size: int = 5, shape: tuple[int, int, int] = (3, 14, 14)
) -> MaskGradient:
    """DropBlock on random activations, then the gradient of a random weighted sum.

    The backward multiplies by the same keep mask and scale as the forward, so the
    gradient is ``keep * scale * w``: zero exactly where the forward dropped.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, *shape, generator=gen).requires_grad_()
    w = torch.rand(1, *shape, generator=gen) + 0.5  # never 0: zeros come from the mask only
    y, keep = drop_block(x, p, block_size, generator=gen, return_mask=True)
    (y * w).sum().backward()
    assert x.grad is not None
    kept = float(keep.sum())
    scale = keep.numel() / kept if kept else 0.0
    return MaskGradient(x.detach()[0], keep[0].detach(), x.grad[0], scale)
