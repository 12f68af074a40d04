"""Pieces of pages that more than one page shows: the model's view with Grad-CAM overlays,
top-1 captions, and the pictures of one injection site.

Pictures leave here encoded (JPEG for photos, PNG for masks, whose cells must stay crisp):
``st.image`` then only hashes the bytes instead of encoding a PIL image on every rerun,
and :func:`.shared.shared` can keep them for every session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from dropcore.probe import ProbeResult, SiteRecord, probabilities
from models import LoadedModel

from . import render

__all__ = [
    "BaselinePictures", "CamImages", "SitePictures", "baseline_pictures", "cam_images",
    "cam_pictures", "input_view", "mask_mosaic", "site_pictures", "top1_text",
]

def top1_text(loaded: LoadedModel, logits: torch.Tensor) -> str:
    """``"tabby (41.2%)"`` for Tensor[K] logits."""
    probs = probabilities(logits)
    index = int(probs.argmax())
    return f"{loaded.categories[index]} ({probs[index].item():.1%})"


@dataclass(frozen=True)
class CamImages:
    """The model's input and the first draw's Grad-CAM overlays, as JPEG bytes."""

    view: bytes
    baseline: bytes
    regularized: bytes


def input_view(loaded: LoadedModel, x: torch.Tensor) -> Image.Image:
    """The input as the model sees it (normalisation undone)."""
    return render.model_view(x, loaded.transform.mean, loaded.transform.std)


def cam_pictures(
    loaded: LoadedModel, x: torch.Tensor, result: ProbeResult
) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Input as the model sees it, baseline CAM overlay, first draw's CAM overlay."""
    view = input_view(loaded, x)
    return view, render.overlay(view, result.cam_baseline), render.overlay(view, result.cams[0])


@dataclass(frozen=True)
class BaselinePictures:
    """What every probe of one picture shows alike: the input as the model sees it (JPEG,
    and its pixels, read-only, for overlays) and the baseline's CAM overlay (JPEG)."""

    view: bytes
    pixels: np.ndarray
    baseline: bytes


def baseline_pictures(
    loaded: LoadedModel, x: torch.Tensor, result: ProbeResult
) -> BaselinePictures:
    """The :class:`BaselinePictures` of ``result``'s picture, CAM layer and target."""
    view = input_view(loaded, x)
    pixels = np.asarray(view).copy()
    pixels.flags.writeable = False  # shared by sessions
    return BaselinePictures(render.jpeg_bytes(view), pixels,
                            render.jpeg_bytes(render.overlay(pixels, result.cam_baseline)))


def cam_images(
    loaded: LoadedModel, x: torch.Tensor, result: ProbeResult,
    base: BaselinePictures | None = None,
) -> CamImages:
    """:func:`cam_pictures`, encoded; ``base`` (this result's :func:`baseline_pictures`)
    saves drawing the two that do not depend on the regularizer."""
    base = baseline_pictures(loaded, x, result) if base is None else base
    regularized = render.jpeg_bytes(render.overlay(base.pixels, result.cams[0]))
    return CamImages(base.view, base.baseline, regularized)


@dataclass(frozen=True)
class SitePictures:
    """One site's first draw: one channel large, and the strongest channels as a grid.

    ``channel`` is the most active channel whose mask drops something in this draw (the
    most active channel if none does), so the large mask is not an empty square by chance.
    ``caption`` says what the large mask shows. Pictures are PNG bytes.
    """

    channel: int
    caption: str
    mask: bytes
    before: bytes
    after: bytes
    grid: bytes
    grid_channels: tuple[int, ...]


def _planes(record: SiteRecord) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    before, after = record.before.float(), record.after.float()
    return before, after, (before.shape[-2], before.shape[-1])


def _mask_caption(keep_mask: torch.Tensor, channel: int | None) -> str:
    if keep_mask.ndim == 4:
        subject = (f"weights into output channel {channel}" if channel is not None
                   else "weights (none dropped)")
        kh, kw = keep_mask.shape[-2:]
        return f"{subject}: one {kh} x {kw} kernel per input channel; red = dropped"
    if keep_mask.numel() == 1:
        fate = "dropped" if channel is not None else "kept"
        return f"the whole branch is {fate} in this draw (DropPath)"
    if channel is None:
        return "mask: nothing dropped in any channel in this draw"
    return f"mask of channel {channel}, the most active one with a drop; red = dropped"


def site_pictures(record: SiteRecord, channels: int = 8) -> SitePictures | None:
    """Mask, activation before/after, and a before/mask/after grid of the strongest channels.

    Returns None when the site's tensors were not recorded.
    """
    if record.keep_mask is None or record.before is None or record.after is None:
        return None
    before, after, hw = _planes(record)
    ranked = render.strongest_channels(before, before.shape[0])
    strongest = ranked[:channels]
    with_drop = (c for c in ranked if not render.mask_plane(record.keep_mask, c, hw).all())
    top = next(with_drop, None)
    caption = _mask_caption(record.keep_mask, top)
    top = ranked[0] if top is None else top

    def vmax(c: int) -> float:
        return float(before[c].max())

    rows: list[list[Image.Image]] = [[], [], []]
    for c in strongest:
        rows[0].append(render.activation_tile(before[c], vmax(c), size=96))
        rows[1].append(render.mask_tile(render.mask_plane(record.keep_mask, c, hw), size=96))
        rows[2].append(render.activation_tile(after[c], vmax(c), size=96))
    return SitePictures(
        channel=top,
        caption=caption,
        mask=render.png_bytes(render.mask_tile(render.mask_plane(record.keep_mask, top, hw))),
        before=render.png_bytes(render.activation_tile(before[top], vmax(top), size=224)),
        after=render.png_bytes(render.activation_tile(after[top], vmax(top), size=224)),
        grid=render.png_bytes(render.grid(rows, labels=("before", "mask", "after"))),
        grid_channels=tuple(strongest),
    )


def mask_mosaic(record: SiteRecord, count: int = 16, columns: int = 4) -> Image.Image | None:
    """The masks of a site's ``count`` most active channels as one square mosaic."""
    if record.keep_mask is None or record.before is None:
        return None
    before, _, hw = _planes(record)
    tiles = [render.mask_tile(render.mask_plane(record.keep_mask, c, hw), size=56)
             for c in render.strongest_channels(before, count)]
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)]
    return render.grid(rows, pad=2)
