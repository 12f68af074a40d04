"""Argument checks shared by every regularizer.

All checks run before any tensor work so that a bad call fails fast with a message that
names the offending argument and value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

import torch

__all__ = [
    "check_choice",
    "check_block_size",
    "check_floating",
    "check_generator",
    "check_ndim",
    "check_probability",
]


def check_probability(value: object, name: str = "p") -> float:
    """Return ``value`` as a float in [0, 1] or raise ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def check_block_size(value: object, name: str = "block_size") -> int:
    """Return ``value`` as an int >= 1 or raise ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_choice(value: object, name: str, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_ndim(x: torch.Tensor, allowed: Collection[int] | int, fn: str, layout: str) -> None:
    """Raise ``ValueError`` if ``x`` does not have one of the ``allowed`` numbers of dims."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{fn} expects a torch.Tensor, got {type(x).__name__}")
    allowed_set = {allowed} if isinstance(allowed, int) else set(allowed)
    if x.ndim not in allowed_set:
        raise ValueError(
            f"{fn} expects x of shape {layout}, got a {x.ndim}-d tensor of shape {tuple(x.shape)}"
        )


def check_floating(x: torch.Tensor, fn: str) -> None:
    """Raise ``TypeError`` unless ``x`` has a floating-point dtype (masks rescale values)."""
    if not x.is_floating_point():
        raise TypeError(f"{fn} expects a floating-point tensor, got dtype {x.dtype}")


def check_generator(generator: torch.Generator | None, device: torch.device, fn: str) -> None:
    """Raise ``ValueError`` if ``generator`` lives on another device type than the input."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"{fn}: generator must be a torch.Generator, got {generator!r}")
    if generator.device.type != device.type:
        raise ValueError(
            f"{fn}: generator is on {generator.device.type!r} but x is on {device.type!r}; "
            f"masks are made on the input's device, so pass "
            f"torch.Generator(device={str(device)!r})"
        )


def check_positive_integral(value: object, name: str) -> int:
    """Return ``value`` as a positive int; floats are accepted only when integral (5e3)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    as_float = float(value)
    if not math.isfinite(as_float) or not as_float.is_integer() or as_float < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(as_float)


__all__ += ["check_positive_integral"]
