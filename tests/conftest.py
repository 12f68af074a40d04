"""Shared test helpers."""

from __future__ import annotations

import torch

import pytest


@pytest.fixture()
def gen() -> torch.Generator:
    """A CPU generator with a fixed seed, so statistical tests are reproducible."""
    return torch.Generator().manual_seed(1234)


def maps_for(height: int, width: int, elements: int = 1 << 21, minimum: int = 256) -> int:
    """Number of independent H x W maps giving about ``elements`` cells.

    2M cells keeps the standard error of a measured drop fraction below 0.0025 for every
    geometry tested (worst case: one 7x7 block per 7x7 map, where a map's fraction has
    variance p(1-p) and 2M/49 = 42k maps give sd = sqrt(0.1875 / 42k) = 0.0021), so a 0.01
    tolerance is over 4 standard deviations.
    """
    return max(minimum, elements // (height * width))
