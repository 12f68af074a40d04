"""dropout, spatial_dropout, drop_path, drop_connect."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropcore import (
    DropConnectConv2d,
    DropConnectLinear,
    Dropout,
    DropPath,
    SpatialDropout,
    drop_connect,
    drop_path,
    dropout,
    spatial_dropout,
)


def test_inverted_dropout_rate_and_unbiased(gen: torch.Generator) -> None:
    x = torch.rand(200_000) + 0.5
    y, mask = dropout(x, 0.3, generator=gen, return_mask=True)
    assert abs((1 - mask.mean().item()) - 0.3) < 0.005  # sd 0.001
    assert torch.allclose(y[mask == 1], x[mask == 1] / 0.7)
    assert abs(y.mean().item() / x.mean().item() - 1) < 0.01
    assert dropout(x, 0.3, training=False) is x


def test_vanilla_dropout_scales_at_test_time(gen: torch.Generator) -> None:
    x = torch.rand(200_000) + 0.5
    y, mask = dropout(x, 0.3, inverted=False, generator=gen, return_mask=True)
    assert torch.equal(y, x * mask)  # no train-time rescaling
    assert torch.allclose(dropout(x, 0.3, inverted=False, training=False), x * 0.7)
    # Train-time expectation equals the eval output: that is what the test-time scale is for.
    assert abs(y.mean().item() / (x * 0.7).mean().item() - 1) < 0.01


def test_spatial_dropout_drops_whole_channels(gen: torch.Generator) -> None:
    x = torch.rand(64, 128, 7, 7) + 0.1
    y, mask = spatial_dropout(x, 0.25, generator=gen, return_mask=True)
    assert mask.shape == (64, 128, 1, 1)
    per_channel_zero = (y == 0).flatten(2).float().mean(-1)
    assert set(per_channel_zero.unique().tolist()) == {0.0, 1.0}
    assert abs(per_channel_zero.mean().item() - 0.25) < 0.015  # sd 0.0034
    kept = mask.expand_as(x) == 1
    assert torch.allclose(y[kept], x[kept] / 0.75)


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_drop_path_modes(mode: str, gen: torch.Generator) -> None:
    x = torch.rand(4096, 3, 2, 2) + 0.1
    y, mask = drop_path(x, 0.2, mode=mode, generator=gen, return_mask=True)
    per_sample_zero = (y == 0).flatten(1).all(1).float()
    if mode == "row":
        assert mask.shape == (4096, 1, 1, 1)
        assert abs(per_sample_zero.mean().item() - 0.2) < 0.025  # sd 0.006
    else:
        assert mask.shape == (1, 1, 1, 1)
        assert per_sample_zero.min() == per_sample_zero.max()
    unscaled = drop_path(x, 0.2, mode=mode, scale=False, generator=torch.Generator().manual_seed(1))
    kept = unscaled != 0
    assert torch.equal(unscaled[kept], x[kept])


def test_drop_connect_masks_weights(gen: torch.Generator) -> None:
    w = torch.rand(256, 128, 3, 3) + 0.1
    wd, mask = drop_connect(w, 0.4, generator=gen, return_mask=True)
    assert abs((1 - mask.mean().item()) - 0.4) < 0.005
    assert torch.allclose(wd[mask == 1], w[mask == 1] / 0.6)
    assert drop_connect(w, 0.4, training=False) is w


def test_drop_connect_modules_share_params_and_backprop() -> None:
    conv = nn.Conv2d(4, 6, 3, padding=1)
    dc_conv = DropConnectConv2d.from_conv(conv, 0.5)
    assert dc_conv.weight is conv.weight and dc_conv.bias is conv.bias
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(dc_conv.eval()(x), conv(x))
    dc_conv.train()
    y = dc_conv(x, generator=torch.Generator().manual_seed(0))
    y.sum().backward()
    assert conv.weight.grad is not None and (conv.weight.grad == 0).any()
    lin = nn.Linear(5, 3)
    dc_lin = DropConnectLinear.from_linear(lin, 0.5)
    assert dc_lin.weight is lin.weight
    z = torch.randn(2, 5)
    assert torch.allclose(dc_lin.eval()(z), lin(z))
    assert DropConnectLinear(5, 3, p=0.2)(z).shape == (2, 3)


@pytest.mark.parametrize("fn", [dropout, spatial_dropout, drop_path])
def test_p_one_zeros_even_for_inf(fn) -> None:
    x = torch.full((2, 3, 4, 4), float("inf"), requires_grad=True)
    y = fn(x, 1.0)
    assert torch.equal(y, torch.zeros_like(y))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize(
    "module,fn,kwargs",
    [
        (Dropout(0.3), dropout, {}),
        (Dropout(0.3, inverted=False), dropout, {"inverted": False}),
        (SpatialDropout(0.3), spatial_dropout, {}),
        (DropPath(0.3, mode="batch"), drop_path, {"mode": "batch"}),
    ],
)
def test_module_equals_function(module: nn.Module, fn, kwargs: dict) -> None:
    x = torch.randn(8, 4, 5, 5)
    got = module(x, generator=torch.Generator().manual_seed(9))
    want = fn(x, 0.3, generator=torch.Generator().manual_seed(9), **kwargs)
    assert torch.equal(got, want)
    module.eval()
    assert torch.equal(module(x), fn(x, 0.3, training=False, **kwargs))
