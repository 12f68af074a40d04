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
from .pixel_html import caption_html
from .stat_html import Stat, stat_row
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

    Tables and headline numbers are HTML strings (:mod:`.tables`, :mod:`.stat_html`),
    made once here rather than on every rerun: ``site_stats_html`` (empty without a site)
    holds the shown site's drop rates, ``prediction_html`` the top-5 table beside whether
    the top-1 class changed and by how much the distribution moved.
    """

    elapsed_s: float
    fingerprint: str
    cams: CamImages
    baseline_top1: str
    regularized_top1: str
    site: SiteNumbers | None
    pictures: SitePictures | None
    top5: tuple[TopKEntry, ...]
    flipped: bool
    kl: float
    drops: tuple[DropRow, ...]
    drops_html: str
    site_stats_html: str
    prediction_html: str


_TOP5_COLUMNS = (
    Column("class", "class"),
    Column("baseline_probability", "baseline", "bar", help="Probability without the regularizer."),
    Column(
        "probability", "this draw", "bar", help="Probability with this draw of the regularizer."
    ),
    Column("change", "change", "number", "{:+.3f}", help="p minus the baseline's p"),
)
_DROP_COLUMNS = (
    Column("site", "site"),
    Column("target_p", "target p", "number"),
    Column(
        "expected_drop",
        "expected",
        "number",
        help="Analytic expectation; below the target only for DropBlock's paper γ.",
    ),
    Column("measured_drop", "measured (this draw)", "bar"),
    Column(
        "deviation",
        "measured − expected",
        "number",
        "{:+.3f}",
        help="Sampling noise of one draw if the implementation is right.",
    ),
)


def _top5_html(top5: tuple[TopKEntry, ...]) -> str:
    # Both probability columns share one scale, so their bars compare.
    top = max((max(e.prob, e.baseline_prob) for e in top5), default=0.0)
    return html_table(topk_records(top5), _TOP5_COLUMNS, bar_max=top)


def _drops_html(drops: tuple[DropRow, ...]) -> str:
    top = max((max(d.target_p, d.measured_drop) for d in drops), default=0.0)
    return html_table(drop_records(drops), _DROP_COLUMNS, bar_max=top, max_height_px=400)


_TOP5_CAPTION = "Top-5 with the regularizer, against the baseline (bars share one scale)."


def _site_stats_html(site: SiteNumbers | None) -> str:
    if site is None:
        return ""
    return stat_row(
        [
            Stat(
                "target p",
                f"{site.target_p:.3f}",
                "Drop probability asked for at this site (1 - keep_prob, after depth scaling).",
            ),
            Stat(
                "expected",
                f"{site.expected_drop:.3f}",
                "Analytic expected dropped fraction "
                "for these settings (below the target for DropBlock's paper gamma).",
            ),
            Stat(
                "measured",
                f"{site.measured_drop:.3f}",
                "Fraction of this draw's mask that is dropped.",
            ),
        ]
    )


def _prediction_html(top5_html: str, flipped: bool, kl: float) -> str:
    numbers = stat_row(
        [
            Stat(
                "top-1 changed",
                "yes" if flipped else "no",
                "Does this draw's top-1 class differ from the baseline's?",
            ),
            Stat(
                "KL(baseline ‖ draw)",
                f"{kl:.4f}",
                "How far the whole predicted distribution moved, in nats.",
            ),
        ]
    )
    # Table and numbers side by side (3 : 2), as two columns would place them.
    return (
        '<div style="display:grid;grid-template-columns:minmax(0, 3fr) minmax(0, 2fr);'
        f'gap:1rem;align-items:start"><div>{top5_html}'
        f"{caption_html(_TOP5_CAPTION)}</div>{numbers}</div>"
    )


def playground_view(
    loaded: LoadedModel,
    x: torch.Tensor,
    result: ProbeResult,
    site: str | None,
    base: BaselinePictures | None = None,
) -> PlaygroundView:
    """The page model of ``result`` (a probe of ``loaded`` on x (Tensor[3, H, W]) that
    recorded ``site``, if not None); ``base``: its picture's baseline pictures, if drawn."""
    record = result.site(site) if site else None
    top5 = tuple(topk_with_delta(result.baseline_logits, result.logits, 5, loaded.categories))
    drops = tuple(drop_table(result))
    site_numbers = (
        None
        if record is None
        else SiteNumbers(record.target_p, record.expected_drop, record.measured_drop)
    )
    flipped = bool(flip_rate(result.baseline_logits, result.logits))
    kl = float(kl_divergence(result.baseline_logits, result.logits)[0])
    return PlaygroundView(
        elapsed_s=result.elapsed_s,
        fingerprint=render.fingerprint(result, record),
        cams=cam_images(loaded, x, result, base),
        baseline_top1=top1_text(loaded, result.baseline_logits),
        regularized_top1=top1_text(loaded, result.logits[0]),
        site=site_numbers,
        pictures=None if record is None else site_pictures(record),
        top5=top5,
        flipped=flipped,
        kl=kl,
        drops=drops,
        drops_html=_drops_html(drops),
        site_stats_html=_site_stats_html(site_numbers),
        prediction_html=_prediction_html(_top5_html(top5), flipped, kl),
    )
