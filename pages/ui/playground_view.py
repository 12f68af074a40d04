"""The Playground's page model: everything it shows of one probe, built once per server.

A rerun that finds the model in :func:`.shared.shared_view` draws the page from plain
Python values and encoded pictures: no tensor is copied, hashed or reduced, and no figure
goes through plotly's validators (each of those was a measurable share of a rerun's CPU,
and each torch call waits for the GIL on a busy server).
"""

from __future__ import annotations

from dataclasses import dataclass

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
from .tables import Column, html_table
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

    Tables are HTML strings (:mod:`.tables`), made once here rather than on every rerun.
    """

    elapsed_s: float
    fingerprint: str
    cams: CamImages
    baseline_top1: str
    regularized_top1: str
    site: SiteNumbers | None
    pictures: SitePictures | None
    top5: tuple[TopKEntry, ...]
    top5_html: str
    flipped: bool
    kl: float
    drops: tuple[DropRow, ...]
    drops_html: str


_TOP5_COLUMNS = (
    Column("class", "class"),
    Column("baseline_probability", "baseline", "bar",
           help="Probability without the regularizer."),
    Column("probability", "this draw", "bar",
           help="Probability with this draw of the regularizer."),
    Column("change", "change", "number", "{:+.3f}", help="p minus the baseline's p"),
)
_DROP_COLUMNS = (
    Column("site", "site"),
    Column("target_p", "target p", "number"),
    Column("expected_drop", "expected", "number",
           help="Analytic expectation; below the target only for DropBlock's paper γ."),
    Column("measured_drop", "measured (this draw)", "bar"),
    Column("deviation", "measured − expected", "number", "{:+.3f}",
           help="Sampling noise of one draw if the implementation is right."),
)


def _top5_html(top5: tuple[TopKEntry, ...]) -> str:
    # Both probability columns share one scale, so their bars compare.
    top = max((max(e.prob, e.baseline_prob) for e in top5), default=0.0)
    return html_table(topk_records(top5), _TOP5_COLUMNS, bar_max=top)


def _drops_html(drops: tuple[DropRow, ...]) -> str:
    top = max((max(d.target_p, d.measured_drop) for d in drops), default=0.0)
    return html_table(drop_records(drops), _DROP_COLUMNS, bar_max=top, max_height_px=400)


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
        top5_html=_top5_html(top5),
        flipped=bool(flip_rate(result.baseline_logits, result.logits)),
        kl=float(kl_divergence(result.baseline_logits, result.logits)[0]),
        drops=drops,
        drops_html=_drops_html(drops),
    )
