"""The sparse Bernoulli sampler behind DropBlock's seeds."""

from __future__ import annotations

import math

import torch

from dropcore._sampling import bernoulli_indices

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
