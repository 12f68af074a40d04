"""Statistical properties of drop_block, with fixed seeds and tolerances derived from the
sample size (see conftest.maps_for)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
import torchvision.ops

import dropcore
from dropcore import drop_block, drop_block_mask, drop_probability_map, expected_drop_fraction
from tests.conftest import maps_for

SHAPES = [(7, 7), (14, 14), (28, 28), (56, 56), (14, 9)]
BLOCKS = [1, 2, 3, 5, 7, 9]
PS = [0.1, 0.25]


def measured_fraction(mask: torch.Tensor) -> float:
    return 1.0 - mask.float().mean().item()


@pytest.mark.parametrize("seeding", ["uniform", "valid"])
@pytest.mark.parametrize("height,width", SHAPES)
def test_exact_gamma_drops_p(height: int, width: int, seeding: str, gen: torch.Generator) -> None:
    n = maps_for(height, width)
    for block, p in itertools.product(BLOCKS, PS):
        mask = drop_block_mask(
            (n, 1, height, width), p, block, gamma="exact", seeding=seeding, generator=gen
        )
        got = measured_fraction(mask)
        assert abs(got - p) < 0.01, (height, width, block, p, seeding, got)


@pytest.mark.parametrize("height,width", SHAPES)
def test_paper_gamma_matches_torchvision_and_analytic(
    height: int, width: int, gen: torch.Generator
) -> None:
    n = maps_for(height, width)
    torch.manual_seed(99)  # torchvision's op takes no generator
    for block, p in itertools.product(BLOCKS, PS):
        if block % 2 == 0 or block > min(height, width):
            continue  # torchvision raises on even sizes and breaks on blocks larger than the map
        ours = measured_fraction(
            drop_block_mask(
                (n, 1, height, width), p, block, gamma="paper", seeding="valid", generator=gen
            )
        )
        ref = torch.ones(n, 1, height, width)
        tv = (torchvision.ops.drop_block2d(ref, p, block) == 0).float().mean().item()
        analytic = expected_drop_fraction(p, block, height, width, gamma="paper", seeding="valid")
        assert abs(ours - tv) < 0.01, (height, width, block, p, ours, tv)
        assert abs(ours - analytic) < 0.01, (height, width, block, p, ours, analytic)


def test_paper_formula_undershoots_as_documented() -> None:
    # BACKGROUND.md: 14x14, block 7, keep 0.75 -> 0.210 dropped instead of 0.25.
    frac = expected_drop_fraction(0.25, 7, 14, 14, gamma="paper", seeding="valid")
    assert abs(frac - 0.210) < 0.001


@pytest.mark.parametrize(
    "seeding,gamma_mode", [("uniform", "exact"), ("valid", "exact"), ("valid", "paper")]
)
def test_per_pixel_rates_match_analytic_map(
    seeding: str, gamma_mode: str, gen: torch.Generator
) -> None:
    n, p, block = 40_000, 0.25, 7
    mask = drop_block_mask(
        (n, 1, 14, 14), p, block, gamma=gamma_mode, seeding=seeding, generator=gen
    )
    rates = 1.0 - mask.float().mean(dim=(0, 1))
    expected = drop_probability_map(p, block, 14, 14, gamma=gamma_mode, seeding=seeding).float()
    # Per pixel sd <= sqrt(0.25 / 40k) = 0.0025; 0.012 is ~5 sd over 196 pixels.
    assert (rates - expected).abs().max().item() < 0.012
    if seeding == "uniform":
        assert (rates - p).abs().max().item() < 0.012  # flat: no centre bias
    else:
        # Valid seeding is centre-biased; the analytic map says by how much.
        assert rates[7, 7] > 2 * rates[0, 0]


def test_uniform_map_is_flat_and_valid_map_is_centre_biased() -> None:
    flat = drop_probability_map(0.25, 7, 14, 14, seeding="uniform")
    assert torch.allclose(flat, torch.full_like(flat, 0.25))
    paper = drop_probability_map(0.25, 7, 14, 14, gamma="paper", seeding="valid")
    # BACKGROUND.md: centre pixel 53.8%, corner 1.6%.
    assert abs(paper[7, 7].item() - 0.538) < 0.001
    assert abs(paper[0, 0].item() - 0.016) < 0.001


@pytest.mark.parametrize("algorithm", ["sparse", "dense", "counter"])
def test_algorithms_agree_in_distribution(algorithm: str, gen: torch.Generator) -> None:
    for seeding in ("uniform", "valid"):
        mask = drop_block_mask(
            (20_000, 1, 14, 14), 0.25, 5, seeding=seeding, generator=gen, algorithm=algorithm
        )
        rates = 1.0 - mask.float().mean(dim=(0, 1))
        expected = drop_probability_map(0.25, 5, 14, 14, seeding=seeding).float()
        assert (rates - expected).abs().max().item() < 0.02


def test_block_size_one_is_dropout(gen: torch.Generator) -> None:
    p = 0.25
    mask = drop_block_mask((4096, 1, 14, 14), p, 1, generator=gen).float()
    dropped = 1.0 - mask
    assert abs(dropped.mean().item() - p) < 0.005
    # Independence: neighbours are dropped together with probability p^2, as in dropout.
    both = (dropped[..., :, 1:] * dropped[..., :, :-1]).mean().item()
    assert abs(both - p * p) < 0.005
    _, dmask = dropcore.dropout(torch.ones(4096, 1, 14, 14), p, generator=gen, return_mask=True)
    assert abs((1 - dmask.mean().item()) - (1 - mask.mean().item())) < 0.01


@pytest.mark.parametrize("per_channel,batchwise", [(True, False), (False, False), (True, True)])
def test_mean_preserved(per_channel: bool, batchwise: bool, gen: torch.Generator) -> None:
    x = torch.rand(64, 32, 14, 14) + 0.5
    y = drop_block(x, 0.25, 5, per_channel=per_channel, batchwise=batchwise, generator=gen)
    # count/sum normalisation makes the mean of a constant input exact, and of any input
    # unbiased; with 400k cells the relative error is well under 1%.
    assert abs(y.mean().item() / x.mean().item() - 1.0) < 0.01
    ones = torch.ones(8, 4, 14, 14)
    assert abs(drop_block(ones, 0.25, 5, generator=gen).mean().item() - 1.0) < 1e-5


def _opening_equals(dropped: torch.Tensor, bh: int, bw: int) -> bool:
    """Every dropped cell lies in a bh x bw window (clipped at the border) that is fully
    dropped: a morphological opening leaves the pattern unchanged."""
    d = dropped.float()
    # Outside the map counts as dropped so that blocks clipped at the border are whole.
    padded = F.pad(d, (bw - 1, bw - 1, bh - 1, bh - 1), value=1.0)
    eroded = -F.max_pool2d(-padded, (bh, bw), stride=1)
    opened = F.max_pool2d(F.pad(eroded, (bw - 1, bw - 1, bh - 1, bh - 1)), (bh, bw), stride=1)
    opened = opened[..., bh - 1 : bh - 1 + d.shape[-2], bw - 1 : bw - 1 + d.shape[-1]]
    return torch.equal(opened, d)


@pytest.mark.parametrize("block", [1, 2, 3, 4, 7, 9])
@pytest.mark.parametrize("seeding", ["uniform", "valid"])
def test_zeros_form_whole_blocks(block: int, seeding: str, gen: torch.Generator) -> None:
    for height, width in [(14, 14), (7, 11)]:
        mask = drop_block_mask((64, 8, height, width), 0.2, block, seeding=seeding, generator=gen)
        bh, bw = min(block, height), min(block, width)
        assert _opening_equals(1 - mask.float(), bh, bw)
        assert (~mask).any()


def test_opening_check_rejects_scattered_zeros(gen: torch.Generator) -> None:
    # The structural check above must be able to fail: plain dropout zeros are not blocks.
    scattered = torch.rand(8, 8, 14, 14, generator=gen) < 0.2
    assert not _opening_equals(scattered.float(), 3, 3)


def test_even_block_sizes_are_centred_consistently(gen: torch.Generator) -> None:
    # With 'valid' seeding, an even block's rows and columns are symmetric about the map
    # centre on average: mirrored maps have the same per-pixel rates.
    mask = drop_block_mask((40_000, 1, 10, 10), 0.2, 4, seeding="valid", generator=gen)
    rates = 1.0 - mask.float().mean(dim=(0, 1))
    assert (rates - rates.flip(0)).abs().max().item() < 0.015
    assert (rates - rates.flip(1)).abs().max().item() < 0.015
