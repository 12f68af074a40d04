"""The Playground's page model: everything it shows of one probe, built once per server.

A rerun that finds the model in :func:`.shared.shared_view` draws the page from plain
Python values and encoded pictures: no tensor is copied, hashed or reduced, and no figure
goes through plotly's validators (each of those was a measurable share of a rerun's CPU,
and each torch call waits for the GIL on a busy server).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import torch

from dropcore.probe import (
    DropRow,
    ProbeResult,
    TopKEntry,
    drop_table,
    flip_rate,
    kl_divergence,
    topk_with_delta,
)
from models import LoadedModel

from . import render
from .exports import drop_records, topk_records
from .views import (
    BaselinePictures,
    CamImages,
    SitePictures,
    cam_images,
    site_pictures,
    top1_text,
)

__all__ = ["PlaygroundView", "SiteNumbers", "playground_view"]


@dataclass(frozen=True)
class SiteNumbers:
    """Drop rates of the shown site: asked for, expected, measured in this draw."""

    target_p: float
    expected_drop: float
    measured_drop: float


@dataclass(frozen=True)
class PlaygroundView:
    """One probe as the Playground shows it (immutable: shared by every session).

    Tables are Arrow tables (immutable too): ``st.dataframe`` sends them as they are,
    where a list of rows went through pandas and back to Arrow on every rerun.
    """

    elapsed_s: float
    fingerprint: str
    cams: CamImages
    baseline_top1: str
    regularized_top1: str
    site: SiteNumbers | None
    pictures: SitePictures | None
    top5: tuple[TopKEntry, ...]
    top5_table: pa.Table
    flipped: bool
    kl: float
    drops: tuple[DropRow, ...]
    drops_table: pa.Table


def playground_view(
    loaded: LoadedModel, x: torch.Tensor, result: ProbeResult, site: str | None,
    base: BaselinePictures | None = None,
) -> PlaygroundView:
    """The page model of ``result`` (a probe of ``loaded`` on x (Tensor[3, H, W]) that
    recorded ``site``, if not None); ``base``: its picture's baseline pictures, if drawn."""
    record = result.site(site) if site else None
    top5 = tuple(topk_with_delta(result.baseline_logits, result.logits, 5, loaded.categories))
    drops = tuple(drop_table(result))
    return PlaygroundView(
        elapsed_s=result.elapsed_s,
        fingerprint=render.fingerprint(result, record),
        cams=cam_images(loaded, x, result, base),
        baseline_top1=top1_text(loaded, result.baseline_logits),
        regularized_top1=top1_text(loaded, result.logits[0]),
        site=None if record is None else SiteNumbers(
            record.target_p, record.expected_drop, record.measured_drop),
        pictures=None if record is None else site_pictures(record),
        top5=top5,
        top5_table=pa.Table.from_pylist(topk_records(top5)),
        flipped=bool(flip_rate(result.baseline_logits, result.logits)),
        kl=float(kl_divergence(result.baseline_logits, result.logits)[0]),
        drops=drops,
        drops_table=pa.Table.from_pylist(drop_records(drops)),
    )
