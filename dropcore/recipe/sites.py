"""The modules a recipe puts into a network: each applies one dropcore regularizer at one
site and remembers what it actually dropped.

They hold hyperparameters, a shared :class:`~.rng.MaskRng` and the last measurement only,
no parameters or buffers of their own, so a regularized model's ``state_dict`` has exactly
the keys of the plain one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._masking import bernoulli_measured
from .._sampling import MaskSampler
from .measure import measured_fn
from .rng import MaskRng
from .spec import Recipe

__all__ = ["ActivationSite", "ClassifierDropout", "DropConnectSite", "Site"]


class Site(nn.Module):
    """Base of every site: a name, a rate and the fraction dropped in the last training
    forward.

    Attributes:
        name: ``"layer3.0.branch"``, ``"layer4.1.conv2"``, ``"fc"``.
        p: current drop probability (set by :meth:`Regularized.set_step`).
        factor: this site's share of the recipe's rate (depth scaling), ``p = factor * rate``.
    """

    def __init__(self, name: str, factor: float, rng: MaskRng) -> None:
        super().__init__()
        self.name = name
        self.factor = float(factor)
        self.p = 0.0
        self.rng = rng
        self._dropped: torch.Tensor | None = None

    @property
    def dropped(self) -> torch.Tensor | None:
        """Fraction dropped in the last training forward (0-d tensor), None before any."""
        return self._dropped

    def extra_repr(self) -> str:
        return f"name={self.name!r}, p={self.p:g}"


class ActivationSite(Site):
    """Dropout, SpatialDropout, DropBlock or DropPath on a branch or shortcut output."""

    def __init__(self, name: str, factor: float, rng: MaskRng, recipe: Recipe) -> None:
        super().__init__(name, factor, rng)
        self.recipe = recipe

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[N, C, H, W]) -> Tensor[N, C, H, W]."""
        if not self.training:
            if self.recipe.method == "dropout" and not self.recipe.inverted:
                return x * (1.0 - self.p)  # vanilla dropout scales at test time
            return x
        # The measured fraction stays a device scalar: reading it is the caller's choice.
        y, self._dropped = measured_fn(self.recipe, self.p)(x, self.rng.generator(x.device))
        return y


class DropConnectSite(Site):
    """A conv whose weights go through DropConnect; it *shares* the wrapped conv's
    ``weight`` and ``bias`` (same Parameter objects, same state-dict keys)."""

    def __init__(
        self,
        name: str,
        factor: float,
        rng: MaskRng,
        conv: nn.Conv2d,
        sampler: MaskSampler = "bernoulli",
    ) -> None:
        super().__init__(name, factor, rng)
        self.sampler = sampler
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError(
                f"DropConnect site {name!r} needs a zero-padded conv with numeric padding, "
                f"got padding={conv.padding!r}, padding_mode={conv.padding_mode!r}"
            )
        self.weight = conv.weight
        self.bias = conv.bias
        self.stride, self.padding = conv.stride, conv.padding
        self.dilation, self.groups = conv.dilation, conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[N, C_in, H, W]) -> Tensor[N, C_out, H', W']."""
        weight = self.weight
        if self.training:
            weight, self._dropped = bernoulli_measured(
                self.weight,
                tuple(self.weight.shape),
                self.p,
                rescale=True,
                generator=self.rng.generator(x.device),
                sampler=self.sampler,
            )
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ClassifierDropout(Site):
    """Dropout on the input of the final linear layer, sharing its parameters (the
    articles' 0.3-0.5 for fully connected layers). ``p`` stays fixed: no schedule."""

    def __init__(
        self, name: str, rng: MaskRng, fc: nn.Linear, p: float, sampler: MaskSampler
    ) -> None:
        super().__init__(name, 1.0, rng)
        self.p = p
        self.sampler = sampler
        self.weight = fc.weight
        self.bias = fc.bias
        self.in_features, self.out_features = fc.in_features, fc.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (Tensor[N, in]) -> Tensor[N, out]."""
        if self.training:
            x, self._dropped = bernoulli_measured(
                x,
                tuple(x.shape),
                self.p,
                rescale=True,
                generator=self.rng.generator(x.device),
                sampler=self.sampler,
            )
        return F.linear(x, self.weight, self.bias)
