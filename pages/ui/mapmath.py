"""The numbers of the math page: pure functions of one DropBlock setting on one feature map.

Cached for every session (``st.cache_data``): the same setting and seed give the same
masks, so a class looking at one setting draws its hundreds of thousands of mask cells once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
import torch

import dropcore
from dropcore.gamma import GammaMode, Seeding

from . import catalog as c

__all__ = [
    "SWEEP_BUDGET",
    "TABLE_BUDGET",
    "GammaNumbers",
    "MapSetting",
    "combo_name",
    "gamma_numbers",
    "measured_fraction",
    "measured_masks",
]

# Mask elements drawn per measured point of a sweep, and for the table (more precise).
SWEEP_BUDGET = 60_000
TABLE_BUDGET = 600_000


def combo_name(gamma: str, seeding: str) -> str:
    return f"{gamma} · {seeding}"


def measured_fraction(
    p: float,
    bs: int,
    h: int,
    w: int,
    gamma: GammaMode,
    seeding: Seeding,
    gen: torch.Generator,
    budget: int = SWEEP_BUDGET,
) -> float:
    """Dropped fraction of real DropBlock masks (about ``budget`` mask elements)."""
    planes = max(16, budget // (h * w))
    keep = dropcore.drop_block_mask(
        (planes, 1, h, w), p, bs, gamma=gamma, seeding=seeding, generator=gen
    )
    return 1.0 - keep.float().mean().item()


@dataclass(frozen=True)
class MapSetting:
    """The sidebar's DropBlock setting on one feature map, shared by the tabs."""

    keep: float
    block: int
    height: int
    width: int
    gamma: GammaMode
    seeding: Seeding
    seed: int

    @property
    def p(self) -> float:
        """Drop probability, 1 - keep_prob."""
        return c.drop_probability(self.keep)


@dataclass(frozen=True)
class GammaNumbers:
    """Everything the seed-rate tab shows: the table (one row per gamma/seeding variant,
    keyed by its name) and the sweeps over block_size and keep_prob."""

    rows: dict[str, dict[str, Any]]
    sizes: list[int]
    sweep: dict[str, list[float]]
    measured: dict[str, tuple[list[int], list[float]]]
    keeps: list[float]
    by_keep: dict[str, list[float]]
    measured_keep: dict[str, tuple[list[float], list[float]]]


@st.cache_data(max_entries=64, show_spinner=False)
def gamma_numbers(s: MapSetting) -> GammaNumbers:
    """The seed-rate tab's numbers: pure in ``s`` (the masks come from its seed), so they
    are computed once per setting for every session."""
    p, block, height, width = s.p, s.block, s.height, s.width
    gen = torch.Generator().manual_seed(s.seed)
    rows = {
        combo_name(gm, sd): {
            "gamma": gm,
            "seeding": sd,
            "γ": dropcore.block_gamma(p, block, height, width, gamma=gm, seeding=sd),
            "expected dropped": dropcore.expected_drop_fraction(
                p, block, height, width, gamma=gm, seeding=sd
            ),
            "measured dropped": measured_fraction(
                p, block, height, width, gm, sd, gen, budget=TABLE_BUDGET
            ),
            "target": p,
        }
        for gm, sd in c.GAMMA_SEEDING
    }
    sizes = list(range(1, min(max(height, width), c.BLOCK_MAX) + 1))
    sweep = {
        combo_name(gm, sd): [
            dropcore.expected_drop_fraction(p, b, height, width, gamma=gm, seeding=sd)
            for b in sizes
        ]
        for gm, sd in c.GAMMA_SEEDING
    }
    sweep["target"] = [p] * len(sizes)
    measured = {
        combo_name(gm, sd): (
            sizes,
            [measured_fraction(p, b, height, width, gm, sd, gen) for b in sizes],
        )
        for gm, sd in c.GAMMA_SEEDING
    }
    keeps = [round(k, 2) for k in np.linspace(0.0, 1.0, 51)]
    by_keep = {
        combo_name(gm, sd): [
            dropcore.expected_drop_fraction(
                c.drop_probability(k), block, height, width, gamma=gm, seeding=sd
            )
            for k in keeps
        ]
        for gm, sd in c.GAMMA_SEEDING
    }
    by_keep["target"] = [c.drop_probability(k) for k in keeps]
    coarse = [round(k, 1) for k in np.linspace(0.0, 1.0, 11)]
    measured_keep = {
        combo_name(gm, sd): (
            coarse,
            [
                measured_fraction(c.drop_probability(k), block, height, width, gm, sd, gen)
                for k in coarse
            ],
        )
        for gm, sd in c.GAMMA_SEEDING
    }
    return GammaNumbers(rows, sizes, sweep, measured, keeps, by_keep, measured_keep)


@st.cache_data(max_entries=64, show_spinner=False)
def measured_masks(s: MapSetting) -> tuple[int, np.ndarray, list[np.ndarray]]:
    """Draws of DropBlock masks for ``s``: (count, drop frequency per pixel, four masks)."""
    draws = max(200, TABLE_BUDGET // (s.height * s.width))
    gen = torch.Generator().manual_seed(s.seed)
    masks = dropcore.drop_block_mask(
        (draws, 1, s.height, s.width),
        s.p,
        s.block,
        gamma=s.gamma,
        seeding=s.seeding,
        generator=gen,
    )
    return draws, (~masks[:, 0]).float().mean(0).numpy(), [masks[i, 0].numpy() for i in range(4)]
