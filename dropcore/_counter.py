"""Counter-based masks: every random word is a pure function of (call seed, index).

Why. Torch's CPU generator (Mersenne Twister) is sequential, so a mask costs four passes:
draw words, compare, count, scale. Inside a small network's training step (cold caches
after the convolutions) those passes made element-wise dropout and DropBlock cost 12-16% of
the step. Here word ``k`` of a call is SplitMix64's ``k``-th output for the call's seed
(Steele, Lea & Flood 2014, the generator that seeds xoshiro; it passes BigCrush), so one
pass can draw, compare, count and write the scaled mask (:mod:`dropcore._counter_numba`).

Reproducibility. Each call takes one 63-bit seed from the caller's ``torch.Generator``
(:func:`call_seed`): masks follow the generator's state, and differ across DDP ranks and
DataLoader workers exactly as their generators do. The stream is integer arithmetic, so
the masks do not depend on threads or on the CPU's instruction set.

Without numba the same stream is computed with torch integer ops (:func:`torch_words`):
identical masks, several times slower, and a warning says so once.
"""

from __future__ import annotations

import functools
import math
import warnings
from types import ModuleType

import numpy as np
import torch

from ._layout import flat_storage, is_dense

__all__ = [
    "NUMBA_DTYPES",
    "call_seed",
    "counter_applies",
    "counter_bernoulli",
    "lane_threshold",
    "numba_kernels",
    "torch_lanes",
    "torch_words",
]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
# Below this min(p, 1 - p), 16-bit uniforms would move p by more than 0.1% (relative).
_MIN_P_16_BITS = 1.0 / 128
# Mask dtypes the kernels write; others (float16, bfloat16) take the torch path.
NUMBA_DTYPES = (torch.float32, torch.float64)


@functools.cache
def numba_kernels() -> ModuleType | None:
    """The compiled kernels, or None (with a warning, once) when numba is missing or has
    no writable cache directory."""
    try:
        from . import _counter_numba
    # ImportError: numba not installed, or no wheel for this Python yet; RuntimeError: numba
    # found no writable cache directory for the compiled kernels.
    except (ImportError, RuntimeError) as err:
        warnings.warn(
            f"counter-based masks fall back to torch ops ({err}); they are identical but "
            "several times slower: pip install numba",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return _counter_numba


def counter_applies(device: torch.device) -> bool:
    """Whether the counter kernels serve tensors on ``device``: the CPU, outside
    ``torch.compile`` (which cannot trace them); elsewhere the callers draw as before."""
    return device.type == "cpu" and not torch.compiler.is_compiling()


def call_seed(generator: torch.Generator | None, device: torch.device) -> int:
    """One draw in ``[0, 2**63)`` from ``generator`` (torch's default one if None)."""
    draw = torch.empty((), dtype=torch.int64, device=device)
    return int(draw.random_(generator=generator))


def lane_threshold(keep_prob: float) -> tuple[int, int] | None:
    """``(bits, threshold)``: a ``bits``-bit uniform below ``threshold`` keeps, which
    happens with probability ``threshold / 2**bits``; None when that rounds to 0 or 1.

    16 bits unless ``min(p, 1 - p) < 1/128``, where 16 bits would move p by more than
    0.1%; then 32.
    """
    bits = 16 if min(keep_prob, 1.0 - keep_prob) >= _MIN_P_16_BITS else 32
    threshold = round(keep_prob * 2**bits)
    return (bits, threshold) if 0 < threshold < 2**bits else None


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _shr(z: torch.Tensor, shift: int) -> torch.Tensor:
    # Logical shift of int64 bit patterns (torch's >> is arithmetic on signed types).
    return (z >> shift) & ((1 << (64 - shift)) - 1)


def torch_words(seed: int, start: int, count: int, device: torch.device) -> torch.Tensor:
    """Words ``start .. start + count - 1`` of the stream of ``seed``.

    Returns:
        Tensor[count] of int64 holding the 64-bit words' bit patterns.
    """
    k = torch.arange(start + 1, start + count + 1, dtype=torch.int64, device=device)
    # int64 products wrap modulo 2**64, which is the unsigned arithmetic SplitMix64 uses.
    z = k * _signed(_GOLDEN) + _signed(seed & _M64)
    z = (z ^ _shr(z, 30)) * _signed(_MUL1)
    z = (z ^ _shr(z, 27)) * _signed(_MUL2)
    return z ^ _shr(z, 31)


def torch_lanes(seed: int, numel: int, bits: int, device: torch.device) -> torch.Tensor:
    """The first ``numel`` ``bits``-bit lanes of the stream (low lanes of a word first).

    Returns:
        Tensor[numel] of int64 in ``[0, 2**bits)``.
    """
    per = 64 // bits
    words = torch_words(seed, 0, -(-numel // per), device)
    shifts = torch.arange(0, 64, bits, dtype=torch.int64, device=device)
    lanes = (words.unsqueeze(1) >> shifts) & ((1 << bits) - 1)
    return lanes.view(-1)[:numel]


def counter_bernoulli(
    like: torch.Tensor,
    shape: tuple[int, ...],
    keep_prob: float,
    *,
    rescale: bool,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, int, float] | None:
    """A keep mask from the counter stream, its number of ones and the probability used.

    Args:
        like (Tensor[...]): gives the mask's dtype and device (the CPU); a mask of its full
            shape also takes its strides (i.i.d. values, so the multiply streams in order).
        shape: the mask's shape.
        keep_prob: probability of keeping, in (0, 1).
        rescale: kept entries hold ``1 / kept_prob`` instead of 1.
        generator: source of the call's seed.

    Returns:
        ``(mask, kept, kept_prob)`` with ``kept_prob = threshold / 2**bits``; None when the
        probability rounds to 0 or 1 (the caller draws with ``bernoulli_`` instead).
    """
    lanes = lane_threshold(keep_prob)
    if lanes is None:
        return None
    bits, threshold = lanes
    kept_prob = threshold / 2**bits
    value = 1.0 / kept_prob if rescale else 1.0
    seed = call_seed(generator, like.device)
    numel = math.prod(shape)
    full = tuple(like.shape) == tuple(shape) and is_dense(like)
    strides = like.stride() if full else torch.empty(shape, device="meta").stride()
    mask = torch.empty_strided(shape, strides, dtype=like.dtype, device=like.device)
    kernels = numba_kernels() if like.dtype in NUMBA_DTYPES else None
    flat = flat_storage(mask)
    if kernels is not None:
        kept = int(kernels.bernoulli_lanes(flat.numpy(), np.uint64(seed), bits, threshold, value))
    else:
        hit = torch_lanes(seed, numel, bits, like.device) < threshold
        flat.copy_(hit).mul_(value)
        kept = int(hit.sum())
    return mask, kept, kept_prob
