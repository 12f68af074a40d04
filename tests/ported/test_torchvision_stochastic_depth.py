"""torchvision's StochasticDepth tests (test/test_ops.py, ``TestStochasticDepth``) ported to
dropcore's :class:`~dropcore.DropPath` (``mode="row"``/``"batch"`` as torchvision)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.feature_extraction import get_graph_node_names

import dropcore as dc

# torchvision runs its 250-trial statistical tests for 10 seeds; 3 keep CI time down with the
# same tolerance (any seed must pass it).
RANDOM_SEEDS = range(3)


class StochasticDepthWrapper(nn.Module):
    """torchvision's wrapper: one module call on one input."""

    def __init__(self, obj: nn.Module) -> None:
        super().__init__()
        self.layer = obj
        self.n_inputs = 1

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.layer(a)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("mode", ["batch", "row"])
def test_stochastic_depth_random(seed: int, mode: str, p: float) -> None:
    torch.manual_seed(seed)
    stats = pytest.importorskip("scipy.stats")
    batch_size = 5
    x = torch.ones(size=(batch_size, 3, 4, 4))
    layer = dc.DropPath(p, mode=mode)  # type: ignore[arg-type]
    layer.__repr__()
    trials = 250
    num_samples = 0
    counts = 0
    for _ in range(trials):
        out = layer(x)
        non_zero_count = out.sum(dim=(1, 2, 3)).nonzero().size(0)
        if mode == "batch":
            if non_zero_count == 0:
                counts += 1
            num_samples += 1
        elif mode == "row":
            counts += batch_size - non_zero_count
            num_samples += batch_size
    p_value = stats.binomtest(counts, num_samples, p=p).pvalue
    assert p_value > 0.01


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("p", (0, 1))
@pytest.mark.parametrize("mode", ["batch", "row"])
def test_stochastic_depth(seed: int, mode: str, p: float) -> None:
    torch.manual_seed(seed)
    x = torch.ones(size=(5, 3, 4, 4))
    out = dc.DropPath(p, mode=mode)(x)  # type: ignore[arg-type]
    if p == 0:
        assert out.equal(x)
    elif p == 1:
        assert out.equal(torch.zeros_like(x))


@pytest.mark.parametrize("p", (0, 1))
@pytest.mark.parametrize("mode", ["batch", "row"])
def test_is_leaf_node(p: float, mode: str) -> None:
    op_obj = StochasticDepthWrapper(dc.DropPath(p, mode=mode))  # type: ignore[arg-type]
    graph_node_names = get_graph_node_names(op_obj)
    assert len(graph_node_names) == 2
    assert len(graph_node_names[0]) == len(graph_node_names[1])
    assert len(graph_node_names[0]) == 1 + op_obj.n_inputs
