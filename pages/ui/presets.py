"""Lesson presets: named, complete regularizer settings a class can start from.

A preset sets every regularizer control (to its default unless the preset says otherwise),
so applying one never leaves a stale value from an earlier experiment behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from . import catalog as c

__all__ = ["PRESETS", "Preset", "apply_preset", "preset_values"]

# The controls a preset owns: everything about the regularizer, not image or seed.
_OWNED = (
    c.METHOD,
    c.KEEP,
    c.SCHEDULE,
    c.START_KEEP,
    c.END_KEEP,
    c.TOTAL_STEPS,
    c.STEP,
    c.BLOCK,
    c.GAMMA,
    c.SEEDING,
    c.PER_CHANNEL,
    c.INVERTED,
    c.STAGES_CONTROL,
    c.WHERE_CONTROL,
    c.DEPTH,
    c.CAM_LAYER,
)


@dataclass(frozen=True)
class Preset:
    """A named setting; ``values`` maps control keys to widget values."""

    name: str
    description: str
    values: Mapping[str, Any]


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Paper setting",
        "Ghiasi et al. 2018's best ResNet-50 setting: DropBlock, block 7, keep_prob 0.9, "
        "layer3 + layer4, residual branch and skip, the paper's gamma and seeding.",
        {
            "method": "drop_block",
            "keep": 0.9,
            "block": 7,
            "gamma": "paper",
            "seeding": "valid",
            "stages": ["layer3", "layer4"],
            "where": "both",
        },
    ),
    Preset(
        "Paper schedule",
        "The paper's schedule: keep_prob falls linearly from 1.0 to 0.9; shown halfway.",
        {
            "method": "drop_block",
            "sched": True,
            "start": 1.0,
            "end": 0.9,
            "total": 10_000,
            "step": 5_000,
            "gamma": "paper",
            "seeding": "valid",
        },
    ),
    Preset(
        "Block 1 = dropout",
        "DropBlock with block_size 1 drops single activations: it is plain dropout.",
        {"method": "drop_block", "block": 1},
    ),
    Preset(
        "Plain dropout",
        "Element-wise Dropout at keep_prob 0.9 in the same places: compare its masks with "
        "DropBlock's.",
        {"method": "dropout"},
    ),
    Preset(
        "SpatialDropout",
        "Whole channels dropped (nn.Dropout2d).",
        {"method": "spatial_dropout"},
    ),
    Preset(
        "Stochastic depth",
        "DropPath on every residual branch, rate rising linearly with depth to 0.2 at the "
        "last block (Huang et al. 2016).",
        {
            "method": "drop_path",
            "keep": 0.8,
            "depth": True,
            "stages": ["layer1", "layer2", "layer3", "layer4"],
            "where": "branch",
        },
    ),
    Preset(
        "No regularizer",
        "The plain network: the baseline every other setting is compared with.",
        {"method": "none"},
    ),
)


def preset_values(preset: Preset) -> dict[str, Any]:
    """Every owned control's value under ``preset`` (defaults where it is silent)."""
    values: dict[str, Any] = {ctrl.key: ctrl.default_value() for ctrl in _OWNED}
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    unknown = set(preset.values) - set(values)
    if unknown:
        raise KeyError(f"preset {preset.name!r} sets unknown controls {sorted(unknown)}")
    values.update(preset.values)
    return values


def apply_preset(name: str | None) -> None:
    """``on_change`` callback: copy a preset into the widgets' session state."""
    chosen = next((p for p in PRESETS if p.name == name), None)
    if chosen is None:
        return
    for key, value in preset_values(chosen).items():
        st.session_state[key] = value
