"""DropConnect (Wan et al., ICML 2013): drop individual weights instead of activations."""

from __future__ import annotations

from typing import Any, Literal, overload

import torch
import torch.nn.functional as F
from torch import nn

from ._masking import bernoulli_masked, identity_result
from ._validate import check_floating, check_generator, check_probability

__all__ = ["DropConnectConv2d", "DropConnectLinear", "drop_connect"]


@overload
def drop_connect(
    weight: torch.Tensor,
    p: float,
    *,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[False] = ...,
) -> torch.Tensor: ...
@overload
def drop_connect(
    weight: torch.Tensor,
    p: float,
    *,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: Literal[True],
) -> tuple[torch.Tensor, torch.Tensor]: ...
@overload
def drop_connect(
    weight: torch.Tensor,
    p: float,
    *,
    training: bool = ...,
    generator: torch.Generator | None = ...,
    return_mask: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...
def drop_connect(
    weight: torch.Tensor,
    p: float,
    *,
    training: bool = True,
    generator: torch.Generator | None = None,
    return_mask: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Zero each weight independently with probability ``p``; kept weights / keep_prob.

    The mask is drawn once per call, i.e. shared by every sample of the batch that the
    returned weight is used for (the usual, efficient form of DropConnect).

    Args:
        weight (Tensor[...]): a weight tensor, e.g. ``[out, in, kh, kw]`` or ``[out, in]``.
        p: drop probability.
        training: identity when False.
        generator: optional ``torch.Generator`` on the weight's device.
        return_mask: also return the 0/1 keep mask (same shape as ``weight``).

    Returns:
        Tensor like ``weight`` (differentiable w.r.t. it), or ``(w, keep_mask)``.
    """
    p = check_probability(p)
    check_floating(weight, "drop_connect")
    check_generator(generator, weight.device, "drop_connect")
    if not training or p == 0.0:
        return identity_result(weight, tuple(weight.shape), return_mask)
    return bernoulli_masked(
        weight, tuple(weight.shape), p, rescale=True, generator=generator, return_mask=return_mask
    )


# FX: record calls as leaf nodes (the mask is drawn from values, not traceable).
torch.fx.wrap("drop_connect")


class DropConnectConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weights go through :func:`drop_connect` at train time.

    Args:
        *args, **kwargs: as ``nn.Conv2d``.
        p: weight drop probability (keyword).
    """

    def __init__(self, *args: Any, p: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.p = check_probability(p)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, p: float) -> DropConnectConv2d:
        """A DropConnect conv that *shares* ``conv``'s parameters (no copy)."""
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            p=p,
            device="meta",
        )
        new.weight, new.bias = conv.weight, conv.bias
        return new

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, C_in, H, W]) -> Tensor[N, C_out, H', W']."""
        weight = drop_connect(self.weight, self.p, training=self.training, generator=generator)
        return self._conv_forward(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


class DropConnectLinear(nn.Linear):
    """``nn.Linear`` whose weights go through :func:`drop_connect` at train time.

    Args:
        in_features, out_features, bias: as ``nn.Linear``.
        p: weight drop probability.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        p: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_features, out_features, bias, **kwargs)
        self.p = check_probability(p)

    @classmethod
    def from_linear(cls, linear: nn.Linear, p: float) -> DropConnectLinear:
        """A DropConnect linear layer that *shares* ``linear``'s parameters (no copy)."""
        new = cls(
            linear.in_features,
            linear.out_features,
            linear.bias is not None,
            p=p,
            device="meta",
        )
        new.weight, new.bias = linear.weight, linear.bias
        return new

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x (Tensor[N, *, in]) -> Tensor[N, *, out]."""
        weight = drop_connect(self.weight, self.p, training=self.training, generator=generator)
        return F.linear(x, weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"
