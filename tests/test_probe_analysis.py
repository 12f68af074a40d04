"""Analysis helpers: top-k with deltas, KL, flip rate, entropy, drop table."""

from __future__ import annotations

import math

import pytest
import torch

import models
from dropcore.probe import (
    ProbeSettings,
    drop_table,
    entropy,
    flip_rate,
    kl_divergence,
    probabilities,
    probe,
    topk_with_delta,
)

BASE = torch.tensor([2.0, 1.0, 0.0, -1.0])
DRAWS = torch.tensor([[0.0, 2.0, 0.0, -1.0], [2.0, 1.0, 0.0, -1.0], [1.0, 1.0, 3.0, -1.0]])


def test_topk_ranks_by_mean_probability_with_deltas() -> None:
    rows = topk_with_delta(BASE, DRAWS, k=2, categories=["a", "b", "c", "d"])
    p_base, p = probabilities(BASE), probabilities(DRAWS)
    mean = p.mean(0)
    order = torch.argsort(mean, descending=True)[:2].tolist()
    assert [r.index for r in rows] == order and [r.name for r in rows] == ["abcd"[i] for i in order]
    for r in rows:
        assert r.prob == pytest.approx(float(mean[r.index]))
        assert r.prob_std == pytest.approx(float(p[:, r.index].std(correction=0)))
        assert r.delta == pytest.approx(float(mean[r.index] - p_base[r.index]))
        assert r.baseline_rank == r.index  # BASE is sorted descending
    single = topk_with_delta(BASE, DRAWS[1], k=4)
    assert all(r.delta == pytest.approx(0.0) and r.prob_std == 0.0 for r in single)
    assert [r.name for r in single] == [None] * 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"k": 0}, "k"), ({"k": 5}, "k"), ({"k": 2, "categories": ["a"]}, "categories")],
)
def test_topk_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        topk_with_delta(BASE, DRAWS, **kwargs)


def test_kl_divergence_is_zero_for_equal_and_matches_the_definition() -> None:
    kl = kl_divergence(BASE, DRAWS)
    assert kl.shape == (3,) and kl[1] == pytest.approx(0.0, abs=1e-12)
    p, q = probabilities(BASE), probabilities(DRAWS[2])
    assert kl[2] == pytest.approx(float((p * (p / q).log()).sum()))
    with pytest.raises(ValueError, match="K = 4"):
        kl_divergence(BASE, torch.zeros(2, 3))


def test_flip_rate_counts_changed_top1() -> None:
    assert flip_rate(BASE, DRAWS) == pytest.approx(2 / 3)
    assert flip_rate(BASE, BASE) == 0.0


def test_entropy_in_nats() -> None:
    assert float(entropy(torch.zeros(4))) == pytest.approx(math.log(4))
    assert entropy(DRAWS).shape == (3,)
    assert float(entropy(torch.tensor([100.0, 0.0]))) == pytest.approx(0.0, abs=1e-12)


def test_drop_table_mirrors_the_sites() -> None:
    net = models.load("resnet18", "random", "cpu").model
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    r = probe(net, x, ProbeSettings(p=0.2, block_size=3, gamma="paper"), samples=2, record=False)
    table = drop_table(r)
    assert [row.site for row in table] == [s.name for s in r.sites]
    for row, s in zip(table, r.sites, strict=True):
        assert (row.target_p, row.expected_drop, row.measured_drop) == (
            s.target_p,
            s.expected_drop,
            s.measured_drop,
        )
        assert row.deviation == pytest.approx(s.measured_drop - s.expected_drop)
