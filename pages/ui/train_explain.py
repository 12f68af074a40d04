"""Inside the trained networks: Grad-CAM side by side, CAM spread over seeds, and the
"backward uses the same mask" check.

Maps and spreads come from :mod:`dropcore.train.explain`; the trained networks from
:func:`models.load_trained` (shared, frozen). Everything here is cached per run key, so a
class looking at the same runs computes each map once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st
import torch
from PIL import Image

import models
from dropcore.train import RunConfig
from dropcore.train.explain import MaskGradient, cam_maps, cam_spread, mask_gradient_demo
from dropcore.train.summary import MeanSd

from . import render
from .train_runs import run_cache

__all__ = [
    "CAM_IMAGES",
    "SPREAD_IMAGES",
    "cam_grid",
    "gradient_pictures",
    "known_spreads",
    "measure_spreads",
    "trained_model",
    "validation_images",
]

CAM_IMAGES = 6  # pictures in the side-by-side grid
SPREAD_IMAGES = 50  # pictures the CAM spread is averaged over (5 per class)
_TILE = 112


def trained_model(config: RunConfig) -> models.LoadedModel:
    """The shared trained network of a finished run (raises ``models.WeightsError``)."""
    return models.load_trained(config, root=str(run_cache().root), device="cpu")


@st.cache_resource(show_spinner=False)
def validation_images(n: int) -> tuple[tuple[Image.Image, str], ...]:
    """``n`` Fashion-MNIST validation pictures (never trained on) with their class names."""
    return tuple(models.fashion_samples(n))


def _batch(loaded: models.LoadedModel, n: int) -> torch.Tensor:
    return torch.stack([loaded.transform(img) for img, _ in validation_images(n)])


def _view(img: Image.Image) -> Image.Image:
    return img.convert("RGB").resize((_TILE, _TILE), Image.Resampling.NEAREST)


@st.cache_data(show_spinner="Grad-CAM of the trained networks...", max_entries=32)
def _cam_rows(keys: tuple[str, ...], _configs: tuple[RunConfig, ...]) -> list[np.ndarray]:
    rows = []
    for cfg in _configs:
        loaded = trained_model(cfg)
        rows.append(cam_maps(loaded.model, _batch(loaded, CAM_IMAGES)).numpy())
    return rows


def cam_grid(labels: Sequence[str], configs: Sequence[RunConfig]) -> Image.Image:
    """One row per trained network, one column per validation picture: Grad-CAM overlays
    of each network's own top-1 class on the same pictures."""
    maps = _cam_rows(tuple(c.key() for c in configs), tuple(configs))
    pictures = validation_images(CAM_IMAGES)
    rows = [[_view(img) for img, _ in pictures]]
    for row in maps:
        rows.append(
            [
                render.overlay(_view(img), torch.from_numpy(cam))
                for (img, _), cam in zip(pictures, row, strict=True)
            ]
        )
    return render.grid(rows, labels=["input", *labels], titles=[name for _, name in pictures])


@st.cache_resource(show_spinner=False)
def _spread_memo() -> dict[str, float]:
    # Run key -> mean CAM spread, for the whole server: measured once, shown to everyone.
    return {}


def known_spreads(configs: Sequence[RunConfig]) -> MeanSd | None:
    """The CAM spread over ``configs`` (mean and sd over seeds) if every one is measured."""
    memo = _spread_memo()
    values = [memo.get(c.key()) for c in configs]
    return None if any(v is None for v in values) else MeanSd.of(values)  # type: ignore[arg-type]


def measure_spreads(
    configs: Sequence[RunConfig], progress: Callable[[int, int], object] | None = None
) -> None:
    """Measure the CAM spread (share of the picture above half the CAM's peak, averaged
    over :data:`SPREAD_IMAGES` validation pictures) of every network not measured yet."""
    memo = _spread_memo()
    todo = [c for c in configs if c.key() not in memo]
    for i, cfg in enumerate(todo):
        loaded = trained_model(cfg)
        memo[cfg.key()] = float(cam_spread(loaded.model, _batch(loaded, SPREAD_IMAGES)).mean())
        if progress is not None:
            progress(i + 1, len(todo))


@st.cache_data(show_spinner=False, max_entries=16)
def _gradient(seed: int) -> tuple[bytes, bytes, bytes, bool, bool, float]:
    demo: MaskGradient = mask_gradient_demo(seed)
    channel = 0
    keep = demo.keep[channel]
    grad = demo.grad[channel].abs()
    x = demo.x[channel].abs()
    pictures = (
        render.png_bytes(render.activation_tile(x, float(x.max()), size=224)),
        render.png_bytes(render.mask_tile(keep.bool(), size=224)),
        render.png_bytes(render.activation_tile(grad, float(grad.max()), size=224)),
    )
    return (*pictures, demo.zero_where_dropped, demo.nonzero_where_kept, demo.scale)


def gradient_pictures(seed: int) -> tuple[bytes, bytes, bytes, bool, bool, float]:
    """Input activations, the forward's keep mask and |gradient| of channel 0 (PNG), whether
    the gradient is zero exactly where the mask dropped, non-zero where it kept, and the
    forward's rescaling factor."""
    return _gradient(seed)
