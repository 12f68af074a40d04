"""The samplers: sparse Bernoulli positions (DropBlock's seeds) and dense keep masks."""

from __future__ import annotations

import math

import pytest
import torch

import dropcore as dc
from dropcore._sampling import bernoulli_indices, keep_mask

CPU = torch.device("cpu")


def test_edge_probabilities_and_sizes(gen: torch.Generator) -> None:
    assert bernoulli_indices(0, 0.5, device=CPU, generator=gen).numel() == 0
    assert bernoulli_indices(100, 0.0, device=CPU, generator=gen).numel() == 0
    assert torch.equal(bernoulli_indices(7, 1.0, device=CPU, generator=gen), torch.arange(7))


def test_indices_sorted_in_range_and_binomial(gen: torch.Generator) -> None:
    size, prob, trials = 50_000, 0.002, 200
    counts = []
    for _ in range(trials):
        idx = bernoulli_indices(size, prob, device=CPU, generator=gen)
        assert idx.dtype == torch.int64
        assert bool((idx[1:] > idx[:-1]).all()) and int(idx.min()) >= 0 and int(idx.max()) < size
        counts.append(idx.numel())
    mean = size * prob
    # Mean of 200 Binomial(50k, 0.002) counts: sd = sqrt(mean / 200) ~ 0.7; 4 sd.
    assert abs(sum(counts) / trials - mean) < 4 * math.sqrt(mean / trials)


def test_positions_are_uniform(gen: torch.Generator) -> None:
    size, prob = 1000, 0.01
    hits = torch.zeros(10)
    for _ in range(4000):
        idx = bernoulli_indices(size, prob, device=CPU, generator=gen)
        hits += torch.bincount(idx // 100, minlength=10)
    # Each tenth of the range expects 4000 * 100 * 0.01 = 4000 hits (sd ~ 63).
    assert (hits - 4000).abs().max().item() < 300


def test_same_generator_state_same_draw() -> None:
    a = bernoulli_indices(10_000, 0.01, device=CPU, generator=torch.Generator().manual_seed(3))
    b = bernoulli_indices(10_000, 0.01, device=CPU, generator=torch.Generator().manual_seed(3))
    c = bernoulli_indices(10_000, 0.01, device=CPU, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ------------------------------------------------------------------ dense keep masks


@pytest.mark.parametrize(("keep", "bits"), [(0.9, 16), (0.5, 16), (0.7, 16), (0.999, 32)])
def test_fast_mask_rate_and_rounded_probability(
    keep: float, bits: int, gen: torch.Generator
) -> None:
    like = torch.empty(200, 1000)
    mask, used = keep_mask(like, (200, 1000), keep, generator=gen, sampler="fast")
    assert mask.dtype == like.dtype and set(mask.unique().tolist()) <= {0.0, 1.0}
    # The probability used is keep rounded to the lane resolution, and says which it was.
    assert used == round(keep * 2**bits) / 2**bits and abs(used - keep) <= 2 ** -(bits + 1)
    sd = math.sqrt(used * (1 - used) / mask.numel())
    assert abs(mask.mean().item() - used) < 5 * sd


def test_fast_mask_every_lane_uniform(gen: torch.Generator) -> None:
    # Four 16-bit lanes per 64-bit word: each lane position (the top one holds the sign
    # bit) must keep at the same rate, and neighbouring lanes must be independent.
    mask, used = keep_mask(torch.empty(400_000), (400_000,), 0.5, generator=gen, sampler="fast")
    lanes = mask.view(-1, 4)
    sd = math.sqrt(0.25 / lanes.shape[0])
    assert (lanes.mean(0) - used).abs().max().item() < 5 * sd
    both = (lanes[:, 0] * lanes[:, 3]).mean().item()  # P(both kept) = 0.25 if independent
    assert abs(both - 0.25) < 5 * math.sqrt(0.25 * 0.75 / lanes.shape[0])


def test_fast_mask_follows_the_input_layout(gen: torch.Generator) -> None:
    x = torch.randn(4, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    mask, _ = keep_mask(x, tuple(x.shape), 0.8, generator=gen, sampler="fast")
    assert mask.is_contiguous(memory_format=torch.channels_last)
    broadcast, _ = keep_mask(x, (4, 8, 1, 1), 0.8, generator=gen, sampler="fast")
    assert broadcast.is_contiguous()


def test_fast_mask_reproducible_and_bernoulli_unchanged() -> None:
    def draw(sampler: str) -> torch.Tensor:
        g = torch.Generator().manual_seed(7)
        return keep_mask(torch.empty(5000), (5000,), 0.7, generator=g, sampler=sampler)[0]

    assert torch.equal(draw("fast"), draw("fast"))
    assert not torch.equal(draw("fast"), draw("bernoulli"))
    # "bernoulli" is torch's own stream, mask for mask: what the Playground's links show.
    g = torch.Generator().manual_seed(7)
    assert torch.equal(draw("bernoulli"), torch.empty(5000).bernoulli_(0.7, generator=g))


@pytest.mark.parametrize("inverted", [True, False])
def test_fast_dropout_expectation_exact(inverted: bool, gen: torch.Generator) -> None:
    x = torch.full((1000, 1000), 2.0)
    y, keep = dc.dropout(x, 0.3, inverted=inverted, generator=gen, sampler="fast", return_mask=True)
    used = round(0.7 * 2**16) / 2**16
    # Kept values are divided by the probability actually used (inverted) or unchanged.
    assert torch.allclose(y[keep.bool()], torch.tensor(2.0 / used if inverted else 2.0))
    assert bool((y[~keep.bool()] == 0).all())
    mean = y.mean().item()
    target = 2.0 if inverted else 2.0 * used
    assert abs(mean - target) < 5 * (2.0 / used) * math.sqrt(used * (1 - used) / x.numel())


def test_fast_sampler_falls_back_where_lanes_cannot_hold_p(gen: torch.Generator) -> None:
    # 1 - 1e-12 rounds to 2**32 / 2**32 even with 32-bit lanes: bernoulli_ draws it.
    _, used = keep_mask(torch.empty(10), (10,), 1 - 1e-12, generator=gen, sampler="fast")
    assert used == 1 - 1e-12


def test_sampler_is_validated() -> None:
    expected = "sampler must be one of 'bernoulli', 'fast', 'counter', got 'quick'"
    with pytest.raises(ValueError, match=expected):
        dc.dropout(torch.ones(3), 0.5, sampler="quick")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="sampler"):
        dc.Recipe(method="dropout", p=0.3, sampler="mt")  # type: ignore[arg-type]
