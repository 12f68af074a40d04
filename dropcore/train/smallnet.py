"""A small ResNet of torchvision's own blocks, shaped like torchvision's ResNet.

For 28x28 inputs its stages run at 28, 14, 14 and 7 pixels (8, 16, 32, 64 channels), so
``layer3`` and ``layer4`` see 14x14 and 7x7 maps, the sizes of ResNet-50's groups 3 and 4
at 224x224: a DropBlock of size 7 covers the same share of a map as in the paper. The
attribute names (``conv1``, ``bn1``, ``maxpool``, ``layer1..4``, ``avgpool``, ``fc``) are
torchvision's, so the recipe, the probe and Grad-CAM treat it exactly like ResNet-50.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

__all__ = ["SMALL_WIDTHS", "SmallResNet"]

SMALL_WIDTHS: tuple[int, int, int, int] = (8, 16, 32, 64)
SMALL_STRIDES: tuple[int, int, int, int] = (1, 2, 1, 2)


class _NoPool(nn.MaxPool2d):
    """A 1x1, stride-1 max-pool (the identity) that skips the pooling kernel.

    Kept so that the model has torchvision's layout (the probe reads ``maxpool``), but a
    1x1 pool still costs a full pass over the stem's output in PyTorch's kernel.
    """

    def __init__(self) -> None:
        super().__init__(kernel_size=1, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[N, C, H, W]) -> x."""
        return x


class SmallResNet(nn.Module):
    """ResNet with one ``BasicBlock`` per stage (by default) and a 3x3, stride-1 stem.

    Args:
        in_channels: 1 for Fashion-MNIST, 3 for CIFAR-10.
        num_classes: outputs of ``fc``.
        widths: channels of ``layer1..layer4``.
        blocks: BasicBlocks per stage.
        strides: stride of each stage's first block.
    """

    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: tuple[int, ...] = SMALL_WIDTHS,
        blocks: int = 1,
        strides: tuple[int, ...] = SMALL_STRIDES,
    ) -> None:
        super().__init__()
        if len(widths) != 4 or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be 4 positive channel counts, got {widths!r}")
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks!r}")
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = _NoPool()
        inplanes = widths[0]
        for i, (width, stride) in enumerate(zip(widths, strides, strict=True), start=1):
            setattr(self, f"layer{i}", self._stage(inplanes, width, stride, blocks))
            inplanes = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(inplanes: int, width: int, stride: int, blocks: int) -> nn.Sequential:
        down = None
        if stride != 1 or inplanes != width:
            down = nn.Sequential(
                nn.Conv2d(inplanes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )
        layers = [BasicBlock(inplanes, width, stride, down)]
        layers += [BasicBlock(width, width) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[N, C, H, W]) -> logits Tensor[N, num_classes]."""
        h = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(torch.flatten(self.avgpool(h), 1))
