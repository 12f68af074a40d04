"""Grad-CAM (Selvaraju et al. 2017) from activations and their gradients.

``cam = relu(sum_c alpha_c * A_c)`` with ``alpha_c`` the spatial mean of ``dS/dA_c``, then
each map scaled to [0, 1] (minus its minimum, divided by its range; a constant map becomes
zeros), the normalisation torchcam and pytorch-grad-cam use.
"""

from __future__ import annotations

import torch

__all__ = ["grad_cam", "normalize_maps"]


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Scale each ``[h, w]`` map of ``maps`` (Tensor[..., h, w]) to [0, 1]."""
    flat = maps.flatten(-2)
    low = flat.amin(-1, keepdim=True)
    span = flat.amax(-1, keepdim=True) - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp_min(torch.finfo(maps.dtype).tiny), 0)
    return scaled.view_as(maps)


def grad_cam(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM maps.

    Args:
        activations (Tensor[N, C, h, w]): the explained layer's output.
        gradients (Tensor[N, C, h, w]): d(class score)/d(activations), same shape.

    Returns:
        Tensor[N, h, w] in [0, 1].
    """
    if activations.shape != gradients.shape or activations.ndim != 4:
        raise ValueError(
            f"grad_cam expects activations and gradients of one shape (N, C, h, w), got "
            f"{tuple(activations.shape)} and {tuple(gradients.shape)}"
        )
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return normalize_maps(torch.relu((weights * activations).sum(dim=1)))
