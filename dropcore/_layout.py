"""Memory layout of activations: which format a tensor is in, and its flat storage view."""

from __future__ import annotations

import torch

__all__ = ["flat_storage", "is_dense", "memory_format_of"]

# Channels-last format per tensor rank (N, C and 2 or 3 spatial dims).
_CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}


def memory_format_of(t: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last(_3d)`` for a channels-last tensor that is not also contiguous
    (size-1 dims make some tensors both), else ``torch.contiguous_format``."""
    channels_last = _CHANNELS_LAST.get(t.ndim)
    if channels_last is not None and not t.is_contiguous():
        if t.is_contiguous(memory_format=channels_last):
            return channels_last
    return torch.contiguous_format


def is_dense(t: torch.Tensor) -> bool:
    """Whether ``t`` is contiguous in the standard or the channels-last format."""
    if t.is_contiguous():
        return True
    channels_last = _CHANNELS_LAST.get(t.ndim)
    return channels_last is not None and t.is_contiguous(memory_format=channels_last)


def flat_storage(t: torch.Tensor) -> torch.Tensor:
    """1-d view of a dense, non-overlapping tensor's storage span (any memory format)."""
    return t.as_strided((t.numel(),), (1,))
