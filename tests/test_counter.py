"""The counter-based mask stream ("counter" sampler): the stream itself, the numba kernels
against the torch path, and the statistics of the masks."""

from __future__ import annotations

import builtins
import math
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch

import dropcore as dc
from dropcore import _counter, _counter_block
from dropcore._block_apply import drop_block_measured
from dropcore._block_masks import Geometry
from dropcore._counter import counter_bernoulli, torch_lanes, torch_words
from dropcore._counter_block import counter_block_keep, torch_seed_positions

M64 = (1 << 64) - 1


def splitmix64(seed: int, count: int) -> list[int]:
    """SplitMix64 written from its definition with Python integers."""
    out, state = [], seed
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


@pytest.mark.parametrize("seed", [0, 1, 12345, (1 << 63) - 1])
def test_torch_words_are_splitmix64(seed: int) -> None:
    words = torch_words(seed, 0, 40, torch.device("cpu"))
    assert [w & M64 for w in words.tolist()] == splitmix64(seed, 40)
    # Any window of the stream is the same stream.
    assert torch.equal(torch_words(seed, 17, 5, torch.device("cpu")), words[17:22])


def test_lanes_split_words_low_bits_first() -> None:
    word = splitmix64(7, 1)[0]
    lanes16 = torch_lanes(7, 4, 16, torch.device("cpu")).tolist()
    lanes32 = torch_lanes(7, 2, 32, torch.device("cpu")).tolist()
    assert lanes16 == [(word >> (16 * j)) & 0xFFFF for j in range(4)]
    assert lanes32 == [word & 0xFFFFFFFF, word >> 32]


def _without_numba() -> mock._patch:  # type: ignore[type-arg]
    return mock.patch.multiple(_counter, numba_kernels=lambda: None)


@pytest.mark.parametrize("keep", [0.7, 0.9, 0.3, 0.995, 0.0001])
@pytest.mark.parametrize("shape", [(4, 8, 14, 14), (3, 5, 7, 7), (37,)])
@pytest.mark.parametrize("rescale", [True, False])
def test_numba_kernel_equals_the_torch_path(
    keep: float, shape: tuple[int, ...], rescale: bool
) -> None:
    like = torch.empty(shape)
    if len(shape) == 4:
        like = like.contiguous(memory_format=torch.channels_last)
    assert _counter.numba_kernels() is not None  # numba is a requirement
    fast = counter_bernoulli(like, shape, keep, rescale=rescale, generator=gen(3))
    with _without_numba():
        slow = counter_bernoulli(like, shape, keep, rescale=rescale, generator=gen(3))
    assert fast is not None and slow is not None
    assert torch.equal(fast[0], slow[0])
    assert fast[1:] == slow[1:]
    assert fast[0].stride() == like.stride()  # the input's layout
    values = set(fast[0].unique().tolist())
    assert values <= {0.0, np.float32(1 / fast[2]) if rescale else 1.0}
    assert fast[1] == int((fast[0] != 0).sum())


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_kept_probability_is_rounded_and_reported() -> None:
    # 16-bit lanes unless p or 1 - p is below 1/128 (then 32): the probability used is
    # returned, so inverted scaling stays exact.
    for keep, bits in [(0.9, 16), (0.7, 16), (0.995, 32), (0.003, 32)]:
        drawn = counter_bernoulli(torch.empty(8), (8,), keep, rescale=True, generator=gen(0))
        assert drawn is not None
        assert drawn[2] == round(keep * 2**bits) / 2**bits
    assert (
        counter_bernoulli(torch.empty(8), (8,), 1 - 1e-12, rescale=True, generator=gen(0)) is None
    )


def test_masks_follow_the_generator_state() -> None:
    x = torch.randn(64, 64)
    a = dc.dropout(x, 0.3, generator=gen(1), sampler="counter")
    b = dc.dropout(x, 0.3, generator=gen(1), sampler="counter")
    c = dc.dropout(x, 0.3, generator=gen(2), sampler="counter")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    g = gen(1)
    first = dc.dropout(x, 0.3, generator=g, sampler="counter")
    second = dc.dropout(x, 0.3, generator=g, sampler="counter")
    assert not torch.equal(first, second)  # each call draws a new seed


def test_kept_fraction_and_lane_statistics() -> None:
    n = 1 << 20
    drawn = counter_bernoulli(torch.empty(n), (n,), 0.7, rescale=False, generator=gen(11))
    assert drawn is not None
    mask, kept, used = drawn
    # sd of the kept fraction: sqrt(0.21 / 2**20) = 4.5e-4; 5 sd.
    assert abs(kept / n - used) < 5 * math.sqrt(used * (1 - used) / n)
    lanes = torch_lanes(12345, n, 16, torch.device("cpu")).double()
    # Uniform top bytes: chi-square over 256 bins (df 255, sd 22.6), 5 sd.
    counts = torch.bincount((lanes / 256).long(), minlength=256).double()
    chi2 = ((counts - n / 256) ** 2 / (n / 256)).sum().item()
    assert chi2 < 255 + 5 * 22.6
    # Neighbouring lanes (same word and across words) uncorrelated: |r| < 5 / sqrt(n).
    u = lanes - lanes.mean()
    for lag in (1, 3, 4):
        r = (u[:-lag] * u[lag:]).mean() / u.var()
        assert abs(r.item()) < 5 / math.sqrt(n), lag


GEOMETRIES = [
    ((4, 8, 14, 14), 0.1, 7, "uniform", True),
    ((4, 8, 7, 7), 0.1, 3, "valid", True),
    ((6, 1, 14, 14), 0.25, 5, "uniform", False),
    ((2, 3, 9, 13), 0.5, 9, "uniform", True),
    ((2, 3, 5, 5), 0.1, 1, "uniform", True),
]


def _geometry(shape: tuple[int, ...], p: float, block: int, seeding: str, per_channel: bool):  # type: ignore[no-untyped-def]
    return Geometry(shape, p, block, "exact", seeding, per_channel, False)


def _reference_block_mask(geo: Geometry, seed: int) -> torch.Tensor:
    """Paint the stream's seeds one by one on a logical (N, C, H, W) array."""
    positions = torch_seed_positions(geo.planes * geo.cells, geo.gamma, seed, torch.device("cpu"))
    n, c, h, w = geo.mask_shape
    dropped = np.zeros((n * c, h, w), dtype=bool)
    (gh, oh), (gw, ow) = geo.axes
    for pos in positions.tolist():
        plane, cell = divmod(pos, geo.cells)
        r, q = divmod(cell, gw)
        bh, bw = geo.blocks
        dropped[plane, max(r + oh, 0) : r + oh + bh, max(q + ow, 0) : q + ow + bw] = True
    keep = torch.from_numpy(~dropped).float().view(geo.mask_shape)
    kept = int(keep.sum())
    return keep * (keep.numel() / kept if kept else 0.0)


@pytest.mark.parametrize("case", GEOMETRIES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_block_kernel_equals_the_torch_path_and_a_reference(case, layout) -> None:  # type: ignore[no-untyped-def]
    geo = _geometry(*case)
    strides = torch.empty(geo.mask_shape).contiguous(memory_format=layout).stride()
    fast, dropped = counter_block_keep(geo, torch.float32, strides, gen(5))
    with mock.patch.object(_counter_block, "numba_kernels", lambda: None):
        slow, dropped_slow = counter_block_keep(geo, torch.float32, strides, gen(5))
    seed = int(torch.empty((), dtype=torch.int64).random_(generator=gen(5)))
    reference = _reference_block_mask(geo, seed)
    assert fast.stride() == strides
    assert torch.equal(fast, slow) and dropped == dropped_slow
    assert torch.allclose(fast, reference, rtol=1e-6, atol=0)
    assert dropped == int((reference == 0).sum())
    assert 0 < dropped < fast.numel()  # a real draw


def test_block_masks_drop_p_at_every_position() -> None:
    # Per-pixel drop rates against the analytic map, as for the other renderers.
    n, p, block = 40_000, 0.25, 7
    geo = _geometry((n, 1, 14, 14), p, block, "uniform", True)
    mask, _ = counter_block_keep(geo, torch.float32, (196, 196, 14, 1), gen(8))
    rates = (mask == 0).double().mean(dim=(0, 1))
    expected = dc.drop_probability_map(p, block, 14, 14)
    # Per pixel sd <= sqrt(0.25 / 40k) = 0.0025; 0.012 is ~5 sd over 196 pixels.
    assert (rates - expected).abs().max().item() < 0.012


def test_block_measured_counter_path_output_and_gradient() -> None:
    geo = _geometry((4, 8, 14, 14), 0.1, 7, "uniform", True)
    x = torch.ones(4, 8, 14, 14).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    y, dropped = drop_block_measured(x, geo, "counter", gen(4))
    mask, _ = counter_block_keep(geo, torch.float32, x.stride(), gen(4))
    assert torch.equal(y, mask)
    assert dropped.item() == pytest.approx((mask == 0).float().mean().item())
    y.backward(torch.full_like(y, 2.0))
    assert torch.equal(x.grad, 2 * mask)  # type: ignore[arg-type]


def test_block_counter_path_broadcasts_shared_masks() -> None:
    geo = _geometry((3, 5, 14, 14), 0.2, 3, "uniform", False)
    x = torch.randn(3, 5, 14, 14)
    y, _ = drop_block_measured(x, geo, "counter", gen(9))
    mask, _ = counter_block_keep(geo, torch.float32, (196, 196, 14, 1), gen(9))
    assert torch.equal(y, x * mask)


@pytest.mark.parametrize(
    "error",
    [
        ImportError("No module named 'numba'"),
        # What numba raises when neither the package nor the user has a writable cache dir.
        RuntimeError("cannot cache function 'bernoulli_lanes': no locator available"),
    ],
)
def test_missing_numba_falls_back_loudly(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    real_import = builtins.__import__

    def without_kernels(name: str, *args: Any, **kwargs: Any) -> Any:
        fromlist = args[2] if len(args) > 2 else kwargs.get("fromlist")
        if fromlist and "_counter_numba" in fromlist:
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_kernels)
    with pytest.warns(RuntimeWarning, match="pip install numba"):
        assert _counter.numba_kernels.__wrapped__() is None


def test_public_drop_block_counter_algorithm() -> None:
    x = torch.randn(4, 8, 14, 14).contiguous(memory_format=torch.channels_last)
    geo = _geometry((4, 8, 14, 14), 0.2, 5, "uniform", True)
    mask, _ = counter_block_keep(geo, torch.float32, x.stride(), gen(6))
    y, keep = dc.drop_block(x, 0.2, 5, generator=gen(6), algorithm="counter", return_mask=True)
    assert torch.equal(y, x * mask)
    assert torch.equal(keep, (mask != 0).float())  # the 0/1 mask, before rescaling
    assert y.stride() == x.stride()
    same = dc.DropBlock2d(0.2, 5, algorithm="counter")(x, gen(6))
    assert torch.equal(same, y)
    z = x.clone()
    dc.drop_block(z, 0.2, 5, generator=gen(6), algorithm="counter", inplace=True)
    assert torch.equal(z, y)
    bool_mask = dc.drop_block_mask((4, 8, 14, 14), 0.2, 5, generator=gen(6), algorithm="counter")
    contiguous, _ = counter_block_keep(geo, torch.float32, (1568, 196, 14, 1), gen(6))
    assert torch.equal(bool_mask, contiguous != 0)


def test_counter_algorithm_is_auto_where_the_kernel_does_not_apply() -> None:
    # 3-D maps have no counter kernel: the same draw as "auto".
    x = torch.randn(2, 3, 4, 6, 6)
    a = dc.drop_block3d(x, 0.2, 3, generator=gen(2), algorithm="counter")
    b = dc.drop_block3d(x, 0.2, 3, generator=gen(2), algorithm="auto")
    assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_takes_the_torch_path_with_the_same_draws(dtype: torch.dtype) -> None:
    # The kernels write float32/float64; other dtypes get the same stream from torch ops.
    x = torch.randn(6, 8, 14, 14, generator=gen(0))
    ref = dc.dropout(x, 0.3, generator=gen(3), sampler="counter")
    half = dc.dropout(x.to(dtype), 0.3, generator=gen(3), sampler="counter")
    assert torch.equal(half == 0, ref == 0)
    block_ref = dc.drop_block(x, 0.2, 3, generator=gen(3), algorithm="counter")
    block_half = dc.drop_block(x.to(dtype), 0.2, 3, generator=gen(3), algorithm="counter")
    assert torch.equal(block_half == 0, block_ref == 0)
