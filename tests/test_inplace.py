"""``inplace=True`` (drop_block, drop_block3d, dropout, spatial_dropout): same values as the
out-of-place call, written into the input, and safe under autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dropcore as dc

CASES = [
    (dc.drop_block, (4, 6, 14, 14), {"block_size": 3}),
    (dc.drop_block, (4, 6, 14, 14), {"block_size": 3, "per_channel": False}),
    (dc.drop_block, (4, 6, 14, 14), {"block_size": 5, "algorithm": "dense"}),
    (dc.drop_block3d, (2, 3, 5, 8, 8), {"block_size": 3}),
    (dc.dropout, (4, 6, 7, 7), {}),
    (dc.dropout, (4, 6, 7, 7), {"inverted": False}),
    (dc.spatial_dropout, (4, 6, 7, 7), {}),
]


def _call(fn, x: torch.Tensor, kwargs: dict, **extra) -> torch.Tensor:  # noqa: ANN001
    kw = dict(kwargs)
    if "block_size" in kw:
        return fn(
            x, 0.2, kw.pop("block_size"), generator=torch.Generator().manual_seed(3), **kw, **extra
        )
    return fn(x, 0.2, generator=torch.Generator().manual_seed(3), **kw, **extra)


@pytest.mark.parametrize("fn,shape,kwargs", CASES)
def test_inplace_writes_the_out_of_place_result_into_x(fn, shape, kwargs: dict) -> None:  # noqa: ANN001
    x = torch.randn(shape)
    expected = _call(fn, x, kwargs)
    target = x.clone()
    out = _call(fn, target, kwargs, inplace=True)
    assert out is target
    assert torch.equal(out == 0, expected == 0) and torch.allclose(out, expected)


@pytest.mark.parametrize("fn,shape,kwargs", CASES)
def test_inplace_gradients_match(fn, shape, kwargs: dict) -> None:  # noqa: ANN001
    # A conv's output may be overwritten: its backward needs the conv's input, not its output.
    torch.manual_seed(0)
    conv_cls = torch.nn.Conv3d if len(shape) == 5 else torch.nn.Conv2d
    conv = conv_cls(shape[1], shape[1], 3, padding=1)
    x = torch.randn(shape)
    grads = []
    for inplace in (False, True):
        conv.zero_grad()
        _call(fn, conv(x), kwargs, inplace=inplace).square().sum().backward()
        grads.append(conv.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_inplace_refused_where_autograd_needs_the_values() -> None:
    # relu's backward reads its output: overwriting it is caught by the version counter,
    # never silently wrong.
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    h = F.relu(conv(torch.randn(2, 3, 10, 10)))
    y = dc.drop_block(h, 0.3, 3, inplace=True)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()
    leaf = torch.randn(2, 3, 10, 10, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        dc.dropout(leaf, 0.3, inplace=True)


def test_module_forms_carry_inplace() -> None:
    x = torch.randn(2, 3, 10, 10)
    for module in (
        dc.DropBlock2d(0.3, 3, inplace=True),
        dc.Dropout(0.3, inplace=True),
        dc.SpatialDropout(0.3, inplace=True),
    ):
        assert "inplace=True" in repr(module)
        assert module(x) is x
