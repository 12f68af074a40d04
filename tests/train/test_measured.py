"""The measured forms the recipe's sites call give what the public functions give.

A site logs the fraction it dropped and never looks at the mask, so it runs a cheaper path
(the mask scaled in place, counted once). For the same generator state that path must
produce the same output and gradient as the public function, and the fraction of that
function's mask that is zero. (The recipe's ``"counter"`` sampler corresponds to
``sampler="counter"`` in ``dropout`` and ``algorithm="counter"`` in ``drop_block``.)
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import dropcore as dc
from dropcore._masking import bernoulli_measured
from dropcore.recipe.measure import measured_fn

Public = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]]

CASES: dict[str, tuple[dict[str, object], Public]] = {
    "dropout_counter": (
        {"method": "dropout", "p": 0.3},
        lambda x, g: dc.dropout(x, 0.3, generator=g, return_mask=True, sampler="counter"),
    ),
    "dropout_counter_vanilla": (
        {"method": "dropout", "p": 0.3, "inverted": False},
        lambda x, g: dc.dropout(
            x, 0.3, generator=g, return_mask=True, sampler="counter", inverted=False
        ),
    ),
    "dropout_fast": (
        {"method": "dropout", "p": 0.3, "sampler": "fast"},
        lambda x, g: dc.dropout(x, 0.3, generator=g, return_mask=True, sampler="fast"),
    ),
    "dropout_bernoulli_vanilla": (
        {"method": "dropout", "p": 0.3, "sampler": "bernoulli", "inverted": False},
        lambda x, g: dc.dropout(x, 0.3, generator=g, return_mask=True, inverted=False),
    ),
    "spatial_dropout": (
        {"method": "spatial_dropout", "p": 0.2},
        lambda x, g: dc.spatial_dropout(x, 0.2, generator=g, return_mask=True),
    ),
    "drop_path": (
        {"method": "drop_path", "p": 0.4},
        lambda x, g: dc.drop_path(x, 0.4, generator=g, return_mask=True),
    ),
    "drop_block_counter": (
        {"method": "drop_block", "p": 0.1, "block_size": 7},
        lambda x, g: dc.drop_block(x, 0.1, 7, generator=g, return_mask=True, algorithm="counter"),
    ),
    "drop_block_sparse": (
        {"method": "drop_block", "p": 0.1, "block_size": 7, "sampler": "bernoulli"},
        lambda x, g: dc.drop_block(x, 0.1, 7, generator=g, return_mask=True),
    ),
    "drop_block_dense_shared": (
        {
            "method": "drop_block",
            "p": 0.5,
            "block_size": 3,
            "per_channel": False,
            "sampler": "bernoulli",
        },
        lambda x, g: dc.drop_block(x, 0.5, 3, per_channel=False, generator=g, return_mask=True),
    ),
}


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("case", list(CASES))
def test_measured_path_matches_the_public_function(case: str, layout: torch.memory_format) -> None:
    settings, public = CASES[case]
    recipe = dc.Recipe(**settings)  # type: ignore[arg-type]
    fn = measured_fn(recipe, recipe.p)
    x0 = torch.randn(4, 8, 14, 14).contiguous(memory_format=layout)
    grad = torch.randn(4, 8, 14, 14)
    x_ref, x_new = x0.clone().requires_grad_(), x0.clone().requires_grad_()
    y_ref, keep = public(x_ref, torch.Generator().manual_seed(5))
    y_new, dropped = fn(x_new, torch.Generator().manual_seed(5))
    y_ref.backward(grad)
    y_new.backward(grad)
    assert torch.equal(y_new, y_ref)
    assert torch.equal(x_new.grad, x_ref.grad)  # type: ignore[arg-type]
    assert dropped.item() == pytest.approx(1.0 - keep.float().mean().item(), abs=1e-7)
    assert 0.0 < dropped.item() < 1.0  # the case drew a real mask, not a trivial one


def test_measured_path_at_the_rate_bounds() -> None:
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    y0, d0 = bernoulli_measured(x, (2, 3, 5, 5), 0.0, rescale=True, generator=None)
    y1, d1 = bernoulli_measured(x, (2, 3, 5, 5), 1.0, rescale=True, generator=None)
    assert y0 is x and d0.item() == 0.0
    assert d1.item() == 1.0 and not y1.any()
    y1.sum().backward()  # zeros stay in the graph, with zero gradient
    assert x.grad is not None and not x.grad.any()


def test_unreturned_mask_path_matches_the_returned_one() -> None:
    """dropout without ``return_mask`` scales its own mask in place: same values."""
    x = torch.randn(3, 4, 9, 9)
    a = dc.dropout(x, 0.25, generator=torch.Generator().manual_seed(1))
    b, _ = dc.dropout(x, 0.25, generator=torch.Generator().manual_seed(1), return_mask=True)
    c = dc.drop_block(x, 0.2, 3, algorithm="dense", generator=torch.Generator().manual_seed(2))
    d, _ = dc.drop_block(
        x, 0.2, 3, algorithm="dense", generator=torch.Generator().manual_seed(2), return_mask=True
    )
    assert torch.equal(a, b) and torch.equal(c, d)
    assert not torch.equal(a, x) and not torch.equal(c, x)
