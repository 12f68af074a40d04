"""A read-only functional view of a torchvision-style ResNet.

Every layer is evaluated with ``torch.nn.functional`` on the module's own parameters and
buffers; no module is *called*. So no hook of the model ever fires, ``model.training`` is
irrelevant (BatchNorm always uses its running statistics and never updates them) and
nothing about the model is written. Convolutions go through a ``conv_fn`` so that a caller
can substitute the weights (DropConnect) without touching the module.

Supported: ``torchvision.models.ResNet`` and models shaped like it (``conv1, bn1, maxpool,
layer1..layer4`` of BasicBlock/Bottleneck-like blocks, ``avgpool, fc``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from .settings import STAGES

__all__ = [
    "Block",
    "ConvFn",
    "branch",
    "branch_convs",
    "conv",
    "head",
    "resnet_blocks",
    "skip",
    "stem",
]

ConvFn = Callable[[str, nn.Conv2d, torch.Tensor], torch.Tensor]
"""``conv_fn(path, conv, x)``: evaluate ``conv`` on ``x``; ``path`` names it in its block
(``"conv1"``.. ``"conv3"``, ``"downsample"``)."""


@dataclass(frozen=True)
class Block:
    """A residual block and where it sits.

    Attributes:
        name: ``"layer3.2"``.
        stage: ``"layer3"``.
        index: index within the stage.
        depth: 1-based index among all blocks of the network.
        module: the block itself.
    """

    name: str
    stage: str
    index: int
    depth: int
    module: nn.Module


def _fail(what: str) -> ValueError:
    return ValueError(f"probe needs a torchvision-style ResNet: {what}")


def _check_conv(module: object, where: str) -> None:
    if not isinstance(module, nn.Conv2d) or module.padding_mode != "zeros":
        raise _fail(f"{where} must be an nn.Conv2d with zero padding, got {module!r}")


def _check_bn(module: object, where: str) -> None:
    if not isinstance(module, nn.BatchNorm2d) or module.running_mean is None:
        raise _fail(f"{where} must be an nn.BatchNorm2d with running statistics")


def branch_convs(block: nn.Module) -> tuple[str, ...]:
    """Names of the convs of the residual branch: ``("conv1", "conv2"[, "conv3"])``."""
    return ("conv1", "conv2", "conv3") if hasattr(block, "conv3") else ("conv1", "conv2")


def resnet_blocks(model: nn.Module) -> tuple[Block, ...]:
    """Check the structure of ``model`` and list its residual blocks in forward order.

    Raises:
        ValueError: ``model`` is not shaped like a torchvision ResNet.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    _check_conv(getattr(model, "conv1", None), "model.conv1")
    _check_bn(getattr(model, "bn1", None), "model.bn1")
    if not isinstance(getattr(model, "maxpool", None), nn.MaxPool2d):
        raise _fail("model.maxpool must be an nn.MaxPool2d")
    if not isinstance(getattr(model, "avgpool", None), nn.AdaptiveAvgPool2d):
        raise _fail("model.avgpool must be an nn.AdaptiveAvgPool2d")
    if not isinstance(getattr(model, "fc", None), nn.Linear):
        raise _fail("model.fc must be an nn.Linear")
    blocks: list[Block] = []
    for stage in STAGES:
        layer = getattr(model, stage, None)
        if not isinstance(layer, nn.Sequential) or len(layer) == 0:
            raise _fail(f"model.{stage} must be a non-empty nn.Sequential of blocks")
        for index, block in enumerate(layer):
            name = f"{stage}.{index}"
            for i, conv_name in enumerate(branch_convs(block), start=1):
                _check_conv(getattr(block, conv_name, None), f"{name}.{conv_name}")
                _check_bn(getattr(block, f"bn{i}", None), f"{name}.bn{i}")
            down = getattr(block, "downsample", None)
            if down is not None:
                if not isinstance(down, nn.Sequential) or len(down) != 2:
                    raise _fail(f"{name}.downsample must be None or Sequential(conv, bn)")
                _check_conv(down[0], f"{name}.downsample.0")
                _check_bn(down[1], f"{name}.downsample.1")
            blocks.append(Block(name, stage, index, len(blocks) + 1, block))
    return tuple(blocks)


def conv(module: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """``module`` applied to ``x``, optionally with another ``weight`` of the same shape."""
    w = module.weight if weight is None else weight
    return F.conv2d(
        x, w, module.bias, module.stride, module.padding, module.dilation, module.groups
    )


def _plain_conv(path: str, module: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return conv(module, x)


def _bn(module: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    # training=False: running statistics are read, never updated, whatever model.training is.
    return F.batch_norm(
        x,
        module.running_mean,
        module.running_var,
        module.weight,
        module.bias,
        False,
        0.0,
        module.eps,
    )


# ``resnet_blocks`` checks every child's type once; the casts below only tell the type
# checker what it verified (``nn.Module.__getattr__`` is typed ``Tensor | Module``).


def stem(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x (Tensor[N, 3, H, W]) -> the input of ``layer1``, Tensor[N, C, H/4, W/4]."""
    bn1, conv1 = cast(nn.BatchNorm2d, model.bn1), cast(nn.Conv2d, model.conv1)
    h = F.relu(_bn(bn1, conv(conv1, x)), inplace=True)
    pool = cast(nn.MaxPool2d, model.maxpool)
    return F.max_pool2d(
        h, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode
    )


def branch(block: nn.Module, x: torch.Tensor, conv_fn: ConvFn = _plain_conv) -> torch.Tensor:
    """Residual branch of ``block`` (ends with the last BN, before the addition)."""
    convs = branch_convs(block)
    h = x
    for i, path in enumerate(convs, start=1):
        h = _bn(getattr(block, f"bn{i}"), conv_fn(path, getattr(block, path), h))
        if i < len(convs):
            h = F.relu(h, inplace=True)
    return h


def skip(block: nn.Module, x: torch.Tensor, conv_fn: ConvFn = _plain_conv) -> torch.Tensor:
    """Shortcut of ``block``: ``x`` itself, or the downsample conv + BN."""
    down = cast("nn.Sequential | None", block.downsample)
    if down is None:
        return x
    return _bn(cast(nn.BatchNorm2d, down[1]), conv_fn("downsample", cast(nn.Conv2d, down[0]), x))


def head(model: nn.Module, h: torch.Tensor) -> torch.Tensor:
    """Output of ``layer4`` (Tensor[N, C, h, w]) -> logits Tensor[N, K]."""
    pooled = F.adaptive_avg_pool2d(h, cast(nn.AdaptiveAvgPool2d, model.avgpool).output_size)
    fc = cast(nn.Linear, model.fc)
    return F.linear(torch.flatten(pooled, 1), fc.weight, fc.bias)
