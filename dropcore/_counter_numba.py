"""Numba kernels of the counter-based mask stream (see ``dropcore._counter``).

Importing this module needs numba; the kernels compile on first call and are cached on
disk (numba's ``cache=True``), so later processes load them in milliseconds. ``nogil``
lets several threads (sessions, DataLoader threads) draw masks at once.

Every kernel computes exactly the stream :mod:`dropcore._counter` defines with torch ops:
word ``k`` of a call is SplitMix64's output ``k`` for the call's seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bernoulli_lanes", "block_keep_2d"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_M53 = 1.0 / 9007199254740992.0


@njit(inline="always")
def _word(seed: np.uint64, k: int) -> np.uint64:
    # SplitMix64's output k: mix(seed + (k + 1) * golden), wrapping modulo 2**64.
    z = seed + np.uint64(k + 1) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _lanes(
    out: np.ndarray, seed: np.uint64, threshold: int, value: float, per: int, bits: int
) -> int:
    # ``per`` and ``bits`` are literals at each call site, so the lane loop unrolls and the
    # word loop vectorizes (10x faster than with run-time lane counts).
    lane_mask = np.uint64((1 << bits) - 1)
    thr = np.uint64(threshold)
    keep = out.dtype.type(value)
    zero = out.dtype.type(0)
    n = out.size
    full = n // per
    kept = 0
    for w in range(full):
        z = _word(seed, w)
        for j in range(per):
            hit = ((z >> np.uint64(bits * j)) & lane_mask) < thr
            out[w * per + j] = keep if hit else zero
            kept += hit
    z = _word(seed, full)
    for j in range(n - full * per):
        hit = ((z >> np.uint64(bits * j)) & lane_mask) < thr
        out[full * per + j] = keep if hit else zero
        kept += hit
    return kept


@njit(cache=True, nogil=True, boundscheck=False)
def bernoulli_lanes(
    out: np.ndarray, seed: np.uint64, bits: int, threshold: int, value: float
) -> int:
    """Writes ``value`` where lane ``i`` (a ``bits``-bit uniform, ``bits`` 16 or 32) is
    below ``threshold``, 0 elsewhere, into the 1-d ``out``; returns the number kept.

    Lane ``i`` is bits ``[bits * j, bits * (j + 1))`` of word ``i // (64 // bits)`` with
    ``j = i % (64 // bits)``.
    """
    if bits == 16:
        return _lanes(out, seed, threshold, value, 4, 16)
    return _lanes(out, seed, threshold, value, 2, 32)


@njit(cache=True, nogil=True, boundscheck=False)
def _paint_seeds(
    scratch: np.ndarray,
    shape: tuple[int, int, int, int],
    strides: tuple[int, int, int, int],
    grid: tuple[int, int],
    offsets: tuple[int, int],
    blocks: tuple[int, int],
    gamma: float,
    seed: np.uint64,
) -> None:
    # Geometric gaps between Bernoulli(gamma) successes over every map's seed grid, one
    # counter uniform per gap; each success marks its clipped block in ``scratch``.
    n_maps, n_ch, height, width = shape
    gh, gw = grid
    cells = gh * gw
    total = n_maps * n_ch * cells
    log_q = np.log1p(-gamma) if gamma < 1.0 else -np.inf
    pos = -1
    k = 0
    while True:
        u = (np.float64(_word(seed, k) >> np.uint64(11)) + 0.5) * _TWO_POW_M53
        k += 1
        pos += np.int64(np.floor(np.log(u) / log_q)) + 1
        if pos >= total:
            return
        plane = pos // cells
        cell = pos - plane * cells
        r = cell // gw + offsets[0]
        q = cell % gw + offsets[1]
        n = plane // n_ch
        base = n * strides[0] + (plane - n * n_ch) * strides[1]
        for i in range(max(r, 0), min(r + blocks[0], height)):
            row = base + i * strides[2]
            for j in range(max(q, 0), min(q + blocks[1], width)):
                scratch[row + j * strides[3]] = 1


@njit(cache=True, nogil=True, boundscheck=False)
def block_keep_2d(
    out: np.ndarray,
    shape: tuple[int, int, int, int],
    strides: tuple[int, int, int, int],
    grid: tuple[int, int],
    offsets: tuple[int, int],
    blocks: tuple[int, int],
    gamma: float,
    seed: np.uint64,
) -> int:
    """DropBlock keep mask in ``out`` (the 1-d storage of a mask of ``shape`` with
    ``strides``), scaled by ``count / kept``; returns the number of dropped cells.

    ``grid``, ``offsets`` and ``blocks`` are per spatial axis (see
    :func:`dropcore.gamma.seed_axes`): a seed at grid index ``s`` covers indices
    ``s + offset .. s + offset + block - 1``, clipped to the map.
    """
    scratch = np.zeros(out.size, np.uint8)
    if gamma > 0.0:
        _paint_seeds(scratch, shape, strides, grid, offsets, blocks, gamma, seed)
    total = out.size
    dropped = 0
    for t in range(total):
        dropped += scratch[t]
    kept = total - dropped
    scale = out.dtype.type(total / kept) if kept > 0 else out.dtype.type(0)
    one = np.uint8(1)
    for t in range(total):
        out[t] = scale * out.dtype.type(one - scratch[t])
    return dropped
