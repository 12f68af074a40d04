"""LinearSchedule, depth_rates, gamma helpers and argument validation."""

from __future__ import annotations

import math

import pytest
import torch

import dropcore
from dropcore import (
    LinearSchedule,
    block_gamma,
    depth_rates,
    drop_block,
    drop_probability,
    expected_drop_fraction,
    keep_probability,
)


def test_linear_schedule_values_and_clamp() -> None:
    sched = LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=5e3)
    assert sched.total_steps == 5000
    assert sched.keep_prob(0) == 1.0
    assert sched.keep_prob(2500) == 0.95
    assert sched(2500.5) == pytest.approx(0.94999)
    assert sched.keep_prob(5000) == 0.9 and sched.keep_prob(10**9) == 0.9
    assert sched.drop_prob(5000) == pytest.approx(0.1)
    # Pure: asking twice (e.g. during evaluation) changes nothing.
    assert sched.keep_prob(100) == sched.keep_prob(100)


@pytest.mark.parametrize("total", [0, -1, 2.5, float("nan"), float("inf"), "10", True])
def test_linear_schedule_rejects_bad_total(total: object) -> None:
    with pytest.raises(ValueError, match="total_steps"):
        LinearSchedule(total_steps=total)


@pytest.mark.parametrize("step", [-1, float("nan"), float("inf"), "3"])
def test_linear_schedule_rejects_bad_step(step: object) -> None:
    with pytest.raises(ValueError, match="step"):
        LinearSchedule(total_steps=10).keep_prob(step)


def test_linear_schedule_rejects_bad_keep() -> None:
    with pytest.raises(ValueError, match="end_keep"):
        LinearSchedule(end_keep=1.5, total_steps=10)


def test_keep_prob_and_p_convert_without_float_noise() -> None:
    assert 1 - 0.9 != 0.1 and drop_probability(0.9) == 0.1
    assert keep_probability(0.1) == 0.9 and keep_probability(drop_probability(0.85)) == 0.85
    assert drop_probability(1) == 0.0 and drop_probability(0.0) == 1.0
    assert LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=10).drop_prob(10) == 0.1


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "0.9", True, None])
def test_keep_prob_and_p_conversions_name_a_bad_value(bad: object) -> None:
    with pytest.raises(ValueError, match=r"keep_prob .*got"):
        drop_probability(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^p .*got"):
        keep_probability(bad)  # type: ignore[arg-type]


def test_depth_rates() -> None:
    assert depth_rates(0.2, 4) == pytest.approx([0.05, 0.1, 0.15, 0.2])


def test_block_gamma_closed_forms() -> None:
    # Uniform seeding: 1 - (1 - g)^(bs^2) = p.
    g = block_gamma(0.1, 7, 14, 14)
    assert 1 - (1 - g) ** 49 == pytest.approx(0.1)
    # Paper formula, eq. (1).
    assert block_gamma(0.1, 7, 14, 14, gamma="paper", seeding="valid") == pytest.approx(
        0.1 / 49 * 196 / 64
    )
    for seeding in ("uniform", "valid"):
        for block in (1, 3, 7, 20):
            assert expected_drop_fraction(0.25, block, 14, 9, seeding=seeding) == pytest.approx(
                0.25, abs=1e-9
            )
    assert block_gamma(1.0, 7, 14, 14) == 1.0 and block_gamma(0.0, 7, 14, 14) == 0.0


@pytest.mark.parametrize("p", [-0.1, 1.1, float("nan"), "0.5", None, True])
def test_bad_p_is_named(p: object) -> None:
    x = torch.randn(2, 3, 8, 8)
    for call in (
        lambda: drop_block(x, p, 3),
        lambda: dropcore.dropout(x, p),
        lambda: dropcore.spatial_dropout(x, p),
        lambda: dropcore.drop_path(x, p),
        lambda: dropcore.drop_connect(x, p),
    ):
        with pytest.raises(ValueError, match=r"\bp\b"):
            call()


@pytest.mark.parametrize("block", [0, -3, 2.5, "7", None])
def test_bad_block_size_is_named(block: object) -> None:
    with pytest.raises(ValueError, match="block_size"):
        drop_block(torch.randn(2, 3, 8, 8), 0.1, block)


@pytest.mark.parametrize("shape", [(8, 8), (3, 8, 8), (1, 2, 3, 8, 8)])
def test_drop_block_wrong_ndim(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        drop_block(torch.randn(shape), 0.1, 3)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"gamma": "exactly"}, "gamma"),
        ({"seeding": "centre"}, "seeding"),
        ({"algorithm": "fast"}, "algorithm"),
    ],
)
def test_unknown_modes(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        drop_block(torch.randn(2, 3, 8, 8), 0.1, 3, **kwargs)
    with pytest.raises(ValueError, match="mode"):
        dropcore.drop_path(torch.randn(2, 3), 0.1, mode="sample")


def test_integer_input_and_generator_device() -> None:
    with pytest.raises(TypeError, match="floating"):
        drop_block(torch.ones(2, 3, 8, 8, dtype=torch.int64), 0.1, 3)
    with pytest.raises(ValueError, match="generator"):
        drop_block(torch.randn(2, 3, 8, 8), 0.1, 3, generator="seed")  # type: ignore[arg-type]


def test_module_validates_at_construction() -> None:
    with pytest.raises(ValueError, match="block_size"):
        dropcore.DropBlock2d(0.1, 0)
    with pytest.raises(ValueError, match="p"):
        dropcore.Dropout(math.inf)
