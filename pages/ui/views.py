"""Pieces of pages that more than one page shows: the model's view with Grad-CAM overlays,
top-1 captions, and the pictures of one injection site.

Pictures leave here encoded (JPEG for photos, PNG for masks, whose cells must stay crisp,
at one pixel per cell for the browser to enlarge):
``st.image`` then only hashes the bytes instead of encoding a PIL image on every rerun,
and :func:`.shared.shared` can keep them for every session.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from dropcore.probe import ProbeResult, SiteRecord, probabilities
from models import LoadedModel

from . import pixel_html, render

__all__ = [
    "GRID_ROWS",
    "BaselinePictures",
    "CamImages",
    "SitePictures",
    "baseline_pictures",
    "cam_images",
    "cam_pictures",
    "input_view",
    "mask_mosaic",
    "site_grid_png",
    "site_pictures",
    "top1_text",
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


@runtime_checkable
class _Normalizing(Protocol):
    """A preprocessing that says how it normalises (torchvision's preset transforms do)."""

    mean: Sequence[float]
    std: Sequence[float]


def input_view(loaded: LoadedModel, x: torch.Tensor) -> Image.Image:
    """The input as the model sees it (normalisation undone).

    Raises:
        TypeError: ``loaded``'s transform does not say its mean and std.
    """
    transform = loaded.transform
    if not isinstance(transform, _Normalizing):
        raise TypeError(f"{loaded.name}'s transform {transform!r} has no mean and std to undo")
    return render.model_view(x, transform.mean, transform.std)


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
    return BaselinePictures(
        render.jpeg_bytes(view),
        pixels,
        render.jpeg_bytes(render.overlay(pixels, result.cam_baseline)),
    )


def cam_images(
    loaded: LoadedModel,
    x: torch.Tensor,
    result: ProbeResult,
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
    ``caption`` says what the large mask shows. Pictures are PNG bytes with one pixel per
    cell, which the browser enlarges (:mod:`.pixel_html`): ``large_html`` shows the
    channel's mask and activations, ``grid_html`` the grid.
    """

    channel: int
    caption: str
    mask: bytes
    before: bytes
    after: bytes
    strips: tuple[bytes, ...]  # before, mask, after: a tile per channel (render.tile_strip)
    tile_sizes: tuple[tuple[int, int], ...]  # (width, height) of each strip's tiles
    grid_channels: tuple[int, ...]
    large_html: str
    grid_html: str


GRID_ROWS = ("before", "mask", "after")


def _planes(record: SiteRecord) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    if record.before is None or record.after is None:
        raise ValueError(f"site {record.name} has no recorded activations")
    before, after = record.before.float(), record.after.float()
    return before, after, (before.shape[-2], before.shape[-1])


def _mask_caption(keep_mask: torch.Tensor, channel: int | None) -> str:
    if keep_mask.ndim == 4:
        subject = (
            f"weights into output channel {channel}"
            if channel is not None
            else "weights (none dropped)"
        )
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
    keep = record.keep_mask
    if keep is None or record.before is None or record.after is None:
        return None
    before, after, hw = _planes(record)
    ranked = render.strongest_channels(before, before.shape[0])
    strongest = ranked[:channels]
    with_drop = (c for c in ranked if not render.mask_plane(keep, c, hw).all())
    top = next(with_drop, None)
    caption = _mask_caption(keep, top)
    top = ranked[0] if top is None else top

    def tiles(c: int) -> tuple[Image.Image, Image.Image, Image.Image]:
        # One colour scale per channel: before and after compare cell by cell.
        vmax = float(before[c].max())
        return (
            render.activation_tile(before[c], vmax, size=None),
            render.mask_tile(render.mask_plane(keep, c, hw), size=None),
            render.activation_tile(after[c], vmax, size=None),
        )

    by_channel = {c: tiles(c) for c in dict.fromkeys([top, *strongest])}
    # A strip per row: a DropConnect mask tile (a grid of kernels) is not the size of an
    # activation tile, and the browser shows every strip equally wide.
    rows = [[by_channel[c][row] for c in strongest] for row in range(len(GRID_ROWS))]
    strips = tuple(render.png_bytes(render.tile_strip(row)) for row in rows)
    large_before, large_mask, large_after = (render.png_bytes(t) for t in by_channel[top])
    grid_caption = (
        f"The {len(strongest)} most active channels of this site "
        f"({', '.join(map(str, strongest))}): activation before, mask, "
        "activation after."
    )
    return SitePictures(
        channel=top,
        caption=caption,
        mask=large_mask,
        before=large_before,
        after=large_after,
        strips=strips,
        tile_sizes=tuple(row[0].size for row in rows),
        grid_channels=tuple(strongest),
        large_html=pixel_html.figure_row(
            [
                pixel_html.crisp_figure(large_mask, caption),
                pixel_html.crisp_figure(large_before, f"activation of channel {top}"),
                pixel_html.crisp_figure(large_after, "after (same colour scale)"),
            ]
        ),
        grid_html=pixel_html.labelled_rows(
            list(zip(GRID_ROWS, strips, strict=True)), grid_caption, width_px=68 * len(strongest)
        ),
    )


def site_grid_png(pictures: SitePictures, tile_px: int = 96) -> bytes:
    """The grid of ``pictures`` as one PNG with its row labels (what "Masks (PNG)"
    downloads): each tile enlarged by a whole factor towards ``tile_px``."""
    rows = []
    for png, size in zip(pictures.strips, pictures.tile_sizes, strict=True):
        with Image.open(io.BytesIO(png)) as strip:
            rows.append(render.strip_tiles(strip, size))
    big = [[render.upscale(tile, tile_px) for tile in row] for row in rows]
    return render.png_bytes(render.grid(big, labels=GRID_ROWS))


def mask_mosaic(record: SiteRecord, count: int = 16, columns: int = 4) -> Image.Image | None:
    """The masks of a site's ``count`` most active channels as one square mosaic."""
    if record.keep_mask is None or record.before is None:
        return None
    before, _, hw = _planes(record)
    tiles = [
        render.mask_tile(render.mask_plane(record.keep_mask, c, hw), size=56)
        for c in render.strongest_channels(before, count)
    ]
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    return render.grid(rows, pad=2)
