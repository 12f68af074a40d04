"""Argument checks shared by every regularizer: one helper per concept.

All checks run before any tensor work so that a bad call fails fast with a message that
names the offending argument and value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import TypeVar

import torch

__all__ = [
    "check_choice",
    "check_flag",
    "check_floating",
    "check_generator",
    "check_index",
    "check_ndim",
    "check_positive_int",
    "check_probability",
]

_Choice = TypeVar("_Choice", bound=str)


def check_probability(value: object, name: str = "p") -> float:
    """Return ``value`` as a float in [0, 1] or raise ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {value!r}")
    as_float = float(value)
    if not 0.0 <= as_float <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return as_float


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int >= 1 or raise ``ValueError`` naming it.

    Whole floats are accepted (``7.0``, ``total_steps=5e3``) because configs and
    arithmetic produce them; fractions, infinities, NaN and bools are not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    if isinstance(value, numbers.Integral):
        as_int = int(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float) or not as_float.is_integer():
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        as_int = int(as_float)
    if as_int < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return as_int


def check_index(value: object, name: str, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high)`` (no upper bound when ``high`` is None).

    Unlike :func:`check_positive_int`, floats are refused: seeds, counts of draws and class
    indices are exact integers, and ``3.0`` there is more likely a bug than a config.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    as_int = int(value)
    if as_int < low or (high is not None and as_int >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return as_int


def check_flag(value: object, name: str) -> bool:
    """Return ``value`` if it is a bool, else raise ``ValueError`` naming it."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(value: object, name: str, choices: Collection[_Choice]) -> _Choice:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value  # type: ignore[return-value]  # membership proves it is one of the literals


def check_ndim(x: object, allowed: Collection[int] | int, fn: str, layout: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a tensor with one of the ``allowed`` numbers of
    dims."""
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


def check_generator(generator: object, device: torch.device, fn: str) -> None:
    """Raise ``ValueError`` if ``generator`` is not None, not a ``torch.Generator``, or lives
    on another device type than the input."""
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
