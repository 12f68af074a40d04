"""drop_block behaviour: identity cases, dtypes, layouts, gradients, reproducibility."""

from __future__ import annotations

import pytest
import torch

from dropcore import DropBlock2d, drop_block

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def test_identity_when_eval_or_p_zero() -> None:
    x = torch.randn(2, 3, 14, 14)
    assert drop_block(x, 0.3, 5, training=False) is x
    assert drop_block(x, 0.0, 5) is x
    y, mask = drop_block(x, 0.3, 5, training=False, return_mask=True)
    assert y is x and mask.shape == (2, 3, 14, 14) and bool((mask == 1).all())


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"per_channel": False}, {"batchwise": True}, {"algorithm": "dense"}, {"seeding": "valid"}],
)
def test_p_one_gives_zeros(kwargs: dict) -> None:
    x = torch.randn(2, 3, 9, 9) * 1e30
    y = drop_block(x, 1.0, 3, **kwargs)
    assert torch.equal(y, torch.zeros_like(y)) and torch.isfinite(y).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_preserved(dtype: torch.dtype, gen: torch.Generator) -> None:
    x = torch.randn(4, 8, 14, 14).to(dtype)
    for kwargs in ({}, {"per_channel": False}, {"algorithm": "dense"}):
        y = drop_block(x, 0.2, 3, generator=gen, **kwargs)
        assert y.dtype == dtype and torch.isfinite(y).all()


def test_half_normalisation_does_not_overflow(gen: torch.Generator) -> None:
    # 1M ones in float16 would sum to inf without a wider accumulator.
    x = torch.ones(16, 64, 32, 32, dtype=torch.float16)
    y = drop_block(x, 0.1, 5, generator=gen)
    assert torch.isfinite(y).all()
    assert abs(y.float().mean().item() - 1.0) < 2e-3


@pytest.mark.parametrize("kwargs", [{}, {"per_channel": False}, {"algorithm": "dense"}])
def test_channels_last_preserved_and_correct(kwargs: dict) -> None:
    x = torch.randn(4, 8, 14, 14)
    xc = x.to(memory_format=torch.channels_last)
    y = drop_block(x, 0.2, 3, generator=torch.Generator().manual_seed(5), **kwargs)
    yc = drop_block(xc, 0.2, 3, generator=torch.Generator().manual_seed(5), **kwargs)
    assert yc.is_contiguous(memory_format=torch.channels_last)
    if kwargs.get("per_channel", True) and "algorithm" not in kwargs:
        # Sparse offsets follow the input's strides, so the same draw gives the same mask.
        assert torch.equal(y, yc)


def test_non_contiguous_input(gen: torch.Generator) -> None:
    x = torch.randn(4, 16, 14, 14)[:, ::2]
    y = drop_block(x, 0.2, 3, generator=gen)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize(
    "kwargs", [{}, {"per_channel": False}, {"batchwise": True}, {"algorithm": "dense"}]
)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gradient_flows_through_kept_only(kwargs: dict, layout: torch.memory_format) -> None:
    x = (torch.rand(4, 8, 14, 14) + 0.1).to(memory_format=layout).requires_grad_()
    y, mask = drop_block(
        x, 0.25, 3, generator=torch.Generator().manual_seed(3), return_mask=True, **kwargs
    )
    y.sum().backward()
    scale = (y.detach() / x.detach())[mask.expand_as(x) > 0].mean()
    expected = mask.expand_as(x) * scale
    assert torch.allclose(x.grad, expected, rtol=1e-5)
    # Same thing through the painted fast path (no return_mask).
    x.grad = None
    y2 = drop_block(x, 0.25, 3, generator=torch.Generator().manual_seed(3), **kwargs)
    y2.sum().backward()
    assert torch.allclose(x.grad, expected, rtol=1e-5)


def test_same_seed_same_mask_different_seed_different_mask() -> None:
    x = torch.randn(4, 8, 14, 14)
    a = drop_block(x, 0.2, 3, generator=torch.Generator().manual_seed(7))
    b = drop_block(x, 0.2, 3, generator=torch.Generator().manual_seed(7))
    c = drop_block(x, 0.2, 3, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_return_mask_matches_output() -> None:
    x = torch.rand(4, 8, 14, 14) + 0.1
    y, mask = drop_block(x, 0.3, 5, generator=torch.Generator().manual_seed(1), return_mask=True)
    assert mask.dtype == x.dtype and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(y == 0, mask == 0)
    scale = mask.numel() / mask.sum()
    assert torch.allclose(y, x * mask * scale)


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({"per_channel": False}, (4, 1, 14, 14)),
        ({"batchwise": True}, (1, 8, 14, 14)),
        ({"batchwise": True, "per_channel": False}, (1, 1, 14, 14)),
    ],
)
def test_mask_shapes_and_sharing(kwargs: dict, shape: tuple[int, ...]) -> None:
    x = torch.rand(4, 8, 14, 14) + 0.1
    y, mask = drop_block(
        x, 0.3, 3, generator=torch.Generator().manual_seed(2), return_mask=True, **kwargs
    )
    assert mask.shape == shape
    assert torch.equal(y == 0, (mask == 0).expand_as(x))


# Shared masks are multiplied through a tiled view (long inner loop); these shapes cover
# prime and odd channel counts, 1x1 and large maps, batchwise, and maps too big to tile.
@pytest.mark.parametrize(
    "shape",
    [(3, 2048, 7, 7), (2, 7, 7, 7), (2, 6, 14, 14), (2, 5, 1, 1), (2, 3, 50, 50), (1, 12, 3, 9)],
)
@pytest.mark.parametrize("batchwise", [False, True])
def test_shared_mask_output_equals_masked_input(shape: tuple[int, ...], batchwise: bool) -> None:
    x = torch.randn(shape)
    y, mask = drop_block(
        x,
        0.3,
        3,
        per_channel=False,
        batchwise=batchwise,
        generator=torch.Generator().manual_seed(3),
        return_mask=True,
    )
    kept = mask.sum()
    scale = mask.numel() / kept if kept > 0 else 0.0  # all dropped gives zeros
    assert y.shape == x.shape and y.is_contiguous()
    assert torch.allclose(y, x * mask * scale, rtol=1e-6, atol=1e-6)
    assert torch.equal(y == 0, (mask == 0).expand_as(x) | (x == 0))


def test_module_equals_function_and_is_identity_in_eval() -> None:
    x = torch.randn(4, 8, 14, 14)
    module = DropBlock2d(0.2, 5, seeding="valid", per_channel=False)
    got = module(x, generator=torch.Generator().manual_seed(4))
    want = drop_block(
        x, 0.2, 5, seeding="valid", per_channel=False, generator=torch.Generator().manual_seed(4)
    )
    assert torch.equal(got, want)
    assert module.eval()(x) is x
    assert "block_size=5" in repr(module)
    assert list(module.parameters()) == [] and list(module.buffers()) == []


@pytest.mark.parametrize(
    "shape,block", [((2, 3, 5, 9), 4), ((2, 3, 7, 7), 9), ((2, 3, 3, 20), 8), ((2, 3, 1, 1), 3)]
)
def test_awkward_geometries(shape: tuple[int, ...], block: int, gen: torch.Generator) -> None:
    x = torch.rand(shape) + 0.1
    for seeding in ("uniform", "valid"):
        y = drop_block(x, 0.3, block, seeding=seeding, generator=gen)
        assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mask_made_on_device() -> None:
    x = torch.randn(4, 8, 14, 14, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    y, mask = drop_block(x, 0.2, 3, generator=g, return_mask=True)
    assert y.device.type == "cuda" and mask.device.type == "cuda"
    with pytest.raises(ValueError, match="generator"):
        drop_block(x, 0.2, 3, generator=torch.Generator())
