"""A residual block with regularizer sites on its branch, shortcut or convolutions.

The wrapper *reuses* the original block's submodules under the same attribute names (so
parameter names and the ``state_dict`` are unchanged) and leaves the original block object
untouched, which is what makes :meth:`Regularized.remove` exact.
"""

from __future__ import annotations

import torch
from torch import nn

from .sites import Site

__all__ = ["RegularizedBlock", "check_block"]

_BASIC = ("conv1", "bn1", "conv2", "bn2", "relu")
_BOTTLENECK = (*_BASIC, "conv3", "bn3")


def check_block(block: nn.Module, name: str) -> None:
    """Raise ``ValueError`` unless ``block`` looks like torchvision's BasicBlock/Bottleneck."""
    needed = _BOTTLENECK if hasattr(block, "conv3") else _BASIC
    missing = [a for a in needed if not isinstance(getattr(block, a, None), nn.Module)]
    if missing or not hasattr(block, "downsample"):
        raise ValueError(
            f"{name} is a {type(block).__name__}, not a torchvision BasicBlock/Bottleneck "
            f"(missing {missing or ['downsample']})"
        )


class RegularizedBlock(nn.Module):
    """``relu(drop_branch(branch(x)) + drop_skip(shortcut(x)))`` for one residual block.

    Args:
        block: a torchvision ``BasicBlock`` or ``Bottleneck`` (read, never modified).
        branch: site on the residual branch's output (before the addition), or None.
        skip: site on the shortcut's output, or None.
        convs: DropConnect sites replacing convs by attribute name (``"conv2"``,
            ``"downsample"`` for the shortcut conv).
    """

    conv1: nn.Module
    bn1: nn.Module
    conv2: nn.Module
    bn2: nn.Module
    conv3: nn.Module
    bn3: nn.Module
    relu: nn.Module
    downsample: nn.Module | None

    def __init__(
        self,
        block: nn.Module,
        branch: Site | None,
        skip: Site | None,
        convs: dict[str, Site],
    ) -> None:
        super().__init__()
        self.depth = 3 if hasattr(block, "conv3") else 2
        for name in _BOTTLENECK if self.depth == 3 else _BASIC:
            setattr(self, name, convs.get(name, getattr(block, name)))
        down = block.downsample if isinstance(block.downsample, nn.Module) else None
        if isinstance(down, nn.Sequential) and "downsample" in convs:
            down = nn.Sequential(convs["downsample"], *list(down)[1:])
        self.downsample = down
        self.drop_branch = branch
        self.drop_skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[N, C, H, W]) -> Tensor[N, C', H', W']."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.depth == 3:
            out = self.bn3(self.conv3(self.relu(out)))
        identity = x if self.downsample is None else self.downsample(x)
        if self.drop_branch is not None:
            out = self.drop_branch(out)
        if self.drop_skip is not None:
            identity = self.drop_skip(identity)
        return self.relu(out + identity)
