"""Playground: one regularizer, live, on one picture: CAMs, masks, predictions, drop rates.

The regularizer controls and everything they change run as one fragment: a slider step
reruns only that part, so the browser redraws neither the frame (navigation, status
badges, title, presets, image controls) nor anything else that cannot have changed. The
picture and the network stay outside it: changing them reruns the whole page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
import torch
from streamlit.delta_generator import DeltaGenerator

from dropcore.probe import Lookup, ProbeKey, cached_probe, probe_key
from models import LoadedModel
from pages.ui import catalog as c
from pages.ui import render
from pages.ui.admission import render_slot
from pages.ui.controls import Panel
from pages.ui.exports import (
    Download,
    csv_bytes,
    download_menu,
    drop_records,
    json_bytes,
    settings_record,
    topk_records,
)
from pages.ui.inputs import Picture, choose_image
from pages.ui.layout import lesson_presets, page_panel
from pages.ui.model import require_model
from pages.ui.pixel_html import figure_row, photo_figure
from pages.ui.playground_view import PlaygroundView
from pages.ui.playground_view import playground_view as build_view
from pages.ui.probing import input_digest, model_input, pass_text, run_probe, sites_of
from pages.ui.regularizer import Regularizer, draw_choices, read_choices, regularizer_from
from pages.ui.shared import baseline_of, shared, shared_view
from pages.ui.views import baseline_pictures, cam_pictures, site_grid_png

STATUS_HELP = (
    "The fingerprint hashes the masks shown and the top-1 class: a shared link that "
    "reproduces this view shows the same fingerprint. A shared result is one this server "
    "had already computed for the same picture, settings and seed."
)


def _pictures(where: DeltaGenerator, view: PlaygroundView, picture: Picture, method: str) -> None:
    captions = (
        f"Input ({picture.name}), as the network sees it",
        f"Baseline: {view.baseline_top1}",
        f"With {c.METHOD_LABELS[method]}: {view.regularized_top1}",
    )
    images = (view.cams.view, view.cams.baseline, view.cams.regularized)
    # One static element, not three images in three columns (see pixel_html).
    where.html(
        figure_row([photo_figure(img, cap) for img, cap in zip(images, captions, strict=True)])
    )


class _Places:
    """Where one run's results go, laid out before the probe pass (see :func:`_results`)."""

    def __init__(self, with_drops: bool) -> None:
        self.status = st.container()
        self.pictures = st.container()
        st.subheader("Masks at one site")
        self.site = st.columns([2, 3])
        self.grid = st.container()
        st.subheader("Prediction")
        self.prediction = st.container()
        self.drops: DeltaGenerator | None = None
        if with_drops:
            st.subheader("Target vs measured drop, every site")
            self.drops = st.container()


def _site(places: _Places, view: PlaygroundView) -> None:
    """The shown site's drop rates, its mask and activations, and the channel grid."""
    if view.site is None:
        places.site[0].info(
            "No regularizer is injected, so there are no masks: the right-hand CAM equals "
            "the baseline. Pick a method in the sidebar (or a lesson preset)."
        )
    else:
        places.site[0].html(view.site_stats_html)
    shown = view.pictures
    if shown is None:
        return
    # Cells drawn by the browser from inline PNGs (pixel_html): nothing to fetch after.
    places.site[1].html(shown.large_html)
    places.grid.html(shown.grid_html)


def _numbers(places: _Places, view: PlaygroundView) -> None:
    # Static HTML rather than a data grid, a chart or st.metric: the same numbers, and far
    # less for the browser to redraw on every change (bench_ui_latency).
    places.prediction.html(view.prediction_html)
    if places.drops is not None and view.drops:
        # One row per site stays readable for 30+ sites.
        places.drops.html(view.drops_html)


def _downloads(
    where: DeltaGenerator,
    current: Callable[[], PlaygroundView],
    cams_png: Download,
    record: dict[str, Any],
    masks: bool,
) -> None:
    """The download menu; every file is made from the view ``current()`` returns, when its
    button is clicked (so the menu is drawn before the pass, while the server computes)."""
    files = [cams_png]
    if masks:
        files.append(
            Download("Masks (PNG)", lambda: _masks_png(current()), "droplab_masks.png", "image/png")
        )
    files.append(
        Download(
            "Top-5 (CSV)",
            lambda: csv_bytes(topk_records(current().top5)),
            "droplab_top5.csv",
            "text/csv",
        )
    )
    if masks:
        files.append(
            Download(
                "Drop rates (CSV)",
                lambda: csv_bytes(drop_records(current().drops)),
                "droplab_drop_rates.csv",
                "text/csv",
            )
        )
    files.append(
        Download(
            "Everything (JSON)",
            lambda: _everything(current(), record),
            "droplab_result.json",
            "application/json",
        )
    )
    download_menu(files, "Download these results", where=where)


def _masks_png(view: PlaygroundView) -> bytes:
    if view.pictures is None:
        raise ValueError("this result has no site pictures to download")
    return site_grid_png(view.pictures)


def _everything(view: PlaygroundView, record: dict[str, Any]) -> bytes:
    return json_bytes(
        {
            **record,
            "elapsed_s": view.elapsed_s,
            "masks_fingerprint": view.fingerprint,
            "top5": topk_records(view.top5),
            "drop_rates": drop_records(view.drops),
        }
    )


def _record(
    loaded: LoadedModel, reg: Regularizer, picture: Picture, site: str | None
) -> dict[str, Any]:
    return {
        **settings_record(reg, picture.name),
        "model": loaded.name,
        "weights": loaded.weights_source,
        "random_weights": loaded.is_random,
        "site": site,
    }


RESULTS = "playground-results"


def _rerun_results() -> None:
    # The change alters nothing else in the sidebar: redraw only the results.
    st.rerun(RESULTS)


@st.fragment
def regularizer_and_results(frame: Panel, picture: Picture) -> None:
    """The regularizer controls (sidebar) and, nested, the results they make (main area)."""
    panel = frame.for_fragment()
    # Here, so that applying one reruns only this fragment. Before the gate: a light
    # change's run of this fragment ends at its first element (the keyed rerun of the
    # results preempts it), and must not wait in line for that.
    lesson_presets(panel)
    with render_slot():  # a class clicking one preset together is served in turn
        draw_choices(panel, light=_rerun_results)
        results(panel, picture)


@st.fragment(key=RESULTS)
def results(controls: Panel, picture: Picture) -> None:
    """The probe's view of the controls' current values (main area).

    A light change (keep_prob, block size, seed, ...) reruns only this: the browser then
    redraws the results and not the two dozen controls around them.
    """
    with render_slot():  # within the controls' place when they are drawing it
        _results(controls.for_fragment(), picture)


@dataclass(frozen=True)
class _Probe:
    """The pass a Playground run shows, and the page model built from it.

    Args:
        x (Tensor[3, H, W]): the model's input for the picture.
        site: the site whose masks are shown (recorded by the pass), if any.
        digest: ``x``'s digest, the picture's part of the shared-results key.
    """

    loaded: LoadedModel
    x: torch.Tensor
    reg: Regularizer
    site: str | None
    digest: str

    @property
    def recorded(self) -> set[str] | bool:
        return {self.site} if self.site else False

    @property
    def key(self) -> ProbeKey:
        return probe_key(
            self.loaded.model,
            self.x,
            self.reg.settings,
            seed=self.reg.seed,
            record=self.recorded,
            image=self.digest,
        )

    def lookup(self) -> Lookup | None:
        """The pass, with the page's progress and problem messages."""
        return run_probe(
            self.loaded,
            self.x,
            self.reg.settings,
            self.reg.seed,
            record=self.recorded,
            image=self.digest,
        )

    def lookup_quietly(self) -> Lookup:
        """The pass for a download, on Streamlit's download thread: no page to write to."""
        return cached_probe(
            self.loaded.model,
            self.x,
            self.reg.settings,
            seed=self.reg.seed,
            record=self.recorded,
            image=self.digest,
        )

    def build(self, found: Lookup) -> PlaygroundView:
        # The input and the baseline's CAM are the same for every setting on a picture.
        base = shared(
            found.key and baseline_of(found.key),
            "baseline-pictures",
            lambda: baseline_pictures(self.loaded, self.x, found.result),
        )
        return build_view(self.loaded, self.x, found.result, self.site, base)

    def current(self) -> PlaygroundView:
        """The stored view of this pass, for a download (or its pass again: the same seed
        draws the same masks)."""
        viewed = shared_view(self.key, "playground", self.lookup_quietly, self.build)
        if viewed is None:
            raise RuntimeError("the result to download could not be computed")
        return viewed.value

    def cams_png(self) -> bytes:
        result = self.lookup_quietly().result
        return render.png_bytes(render.grid([cam_pictures(self.loaded, self.x, result)]))


def _results(panel: Panel, picture: Picture) -> None:
    # A rerun of this fragment alone may write to the page's notices only where the last
    # full run did: so every run opens its own box there, empty or not.
    panel.notices = panel.notices.container()
    made = regularizer_from(read_choices(panel))
    loaded = require_model()
    if isinstance(made, str):
        panel.notices.error(made)
        panel.show_problems()
        return
    reg = made
    sites = sites_of(loaded, reg.settings)
    if sites.problem:  # e.g. DropConnect on identity shortcuts only: nothing to drop
        panel.show_problems()
        st.error(
            f"These settings select nothing to regularize: {sites.problem}", icon=":material/error:"
        )
        return
    # Everything but the numbers and pictures of the result goes out before the pass: the
    # browser lays it out while the server computes, and the pass's outcome then arrives
    # as a handful of messages, which the browser draws in one go.
    places = _Places(with_drops=bool(sites.names))
    site = panel(c.SITE, options=sites.names, area=places.site[0]) if sites.names else None
    probe = _Probe(loaded, model_input(loaded, picture), reg, site, input_digest(loaded, picture))
    menu = st.empty()  # cleared if the pass gives no result
    _downloads(
        menu,
        probe.current,
        Download("CAMs (PNG)", probe.cams_png, "droplab_cams.png", "image/png"),
        _record(loaded, reg, picture, site),
        masks=site is not None,
    )
    # The whole page model is built once per server for this probe: a class that follows
    # the lesson reruns the page from shared values, with no tensor work at all.
    viewed = shared_view(probe.key, "playground", probe.lookup, probe.build)
    panel.show_problems()
    if viewed is None:
        menu.empty()
        return
    view = viewed.value
    places.status.caption(
        f"**{reg.summary()}** · seed {reg.seed} · "
        f"{pass_text(view.elapsed_s, viewed.shared, loaded.device.type)} · "
        f"masks fingerprint `{view.fingerprint}`",
        help=STATUS_HELP,
    )
    _pictures(places.pictures, view, picture, reg.settings.method)
    _site(places, view)
    _numbers(places, view)


frame = page_panel(
    "playground",
    "Playground",
    "A ResNet runs on the picture with a regularizer injected **while you watch**: every "
    "change below reruns it. Left: what the network sees. Middle: where it looks "
    "(Grad-CAM) without regularizer. Right: the same with this draw of the regularizer. "
    "Further down: the masks it drew, how the prediction moved, and whether the "
    "dropped fraction is what was asked for.",
    presets=True,
)
chosen = choose_image(frame)
regularizer_and_results(frame, chosen)
