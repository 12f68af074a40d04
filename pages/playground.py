"""Playground: one regularizer, live, on one picture: CAMs, masks, predictions, drop rates."""

from __future__ import annotations

import streamlit as st

from dropcore.probe import Lookup, cached_probe, probe_key
from pages.ui import catalog as c
from pages.ui import render
from pages.ui.exports import (
    Download,
    csv_bytes,
    download_row,
    drop_records,
    json_bytes,
    settings_record,
    topk_records,
)
from pages.ui.inputs import choose_image
from pages.ui.layout import page_panel
from pages.ui.model import require_model
from pages.ui.playground_view import playground_view
from pages.ui.probing import input_digest, model_input, pass_text, run_probe, sites_of
from pages.ui.regularizer import regularizer_controls
from pages.ui.shared import shared_view
from pages.ui.views import cam_pictures

panel = page_panel(
    "playground",
    "Playground",
    "A ResNet runs on the picture with a regularizer injected **while you watch**: every "
    "change below reruns it. Left: what the network sees. Middle: where it looks "
    "(Grad-CAM) without regularizer. Right: the same with this draw of the regularizer. "
    "Further down: the masks it drew, how the prediction moved, and whether the "
    "dropped fraction is what was asked for.",
    presets=True,
)
picture = choose_image(panel)
reg = regularizer_controls(panel)
loaded = require_model()
if reg is None:
    panel.show_problems()
    st.stop()

status = st.container()
pictures_row = st.columns(3)
st.subheader("Masks at one site")
site_row = st.columns([2, 3])

x = model_input(loaded, picture)
digest = input_digest(loaded, picture)
sites = sites_of(loaded, reg.settings)
if sites.problem:  # e.g. DropConnect on identity shortcuts only: nothing to drop
    panel.show_problems()
    st.error(f"These settings select nothing to regularize: {sites.problem}",
             icon=":material/error:")
    st.stop()
site = panel(c.SITE, options=sites.names, area=site_row[0]) if sites.names else None
recorded = {site} if site else False


def _lookup() -> Lookup | None:
    return run_probe(loaded, x, reg.settings, reg.seed, record=recorded, image=digest)


# The whole page model is built once per server for this probe: a class that follows the
# lesson reruns the page from shared values, with no tensor work at all.
viewed = shared_view(
    probe_key(loaded.model, x, reg.settings, seed=reg.seed, record=recorded, image=digest),
    "playground", _lookup, lambda found: playground_view(loaded, x, found.result, site),
)
panel.show_problems()
if viewed is None:
    st.stop()
view = viewed.value

status.caption(
    f"**{reg.summary()}** · seed {reg.seed} · "
    f"{pass_text(view.elapsed_s, viewed.shared, loaded.device.type)} · "
    f"masks fingerprint `{view.fingerprint}`",
    help="The fingerprint hashes the masks shown and the top-1 class: a shared link that "
    "reproduces this view shows the same fingerprint. A shared result is one this server "
    "had already computed for the same picture, settings and seed.",
)

captions = (
    f"Input ({picture.name}), as the network sees it",
    f"Baseline: {view.baseline_top1}",
    f"With {c.METHOD_LABELS[reg.settings.method]}: {view.regularized_top1}",
)
for col, img, cap in zip(pictures_row, (view.cams.view, view.cams.baseline,
                                        view.cams.regularized), captions, strict=True):
    col.image(img, caption=cap, width="stretch")

if view.site is None:
    site_row[0].info(
        "No regularizer is injected, so there are no masks: the right-hand CAM equals the "
        "baseline. Pick a method in the sidebar (or a lesson preset)."
    )
else:
    with site_row[0]:
        m1, m2, m3 = st.columns(3)
        m1.metric("target p", f"{view.site.target_p:.3f}",
                  help="Drop probability asked for at this site (1 - keep_prob, after "
                  "depth scaling).")
        m2.metric("expected", f"{view.site.expected_drop:.3f}",
                  help="Analytic expected dropped fraction for these settings (below the "
                  "target for DropBlock's paper gamma).")
        m3.metric("measured", f"{view.site.measured_drop:.3f}",
                  help="Fraction of this draw's mask that is dropped.")
site_view = view.pictures
if site_view is not None:
    big = site_row[1].columns(3)
    big[0].image(site_view.mask, caption=site_view.caption, width="stretch",
                 output_format="PNG")
    big[1].image(site_view.before, caption=f"activation of channel {site_view.channel}",
                 width="stretch", output_format="PNG")
    big[2].image(site_view.after, caption="after (same colour scale)", width="stretch",
                 output_format="PNG")
    st.image(site_view.grid, caption="The 8 most active channels of this site "
             f"({', '.join(map(str, site_view.grid_channels))}): activation before, "
             "mask, activation after.", output_format="PNG")

st.subheader("Prediction")
pred_table, pred_numbers = st.columns([3, 2])
# Bars in the table rather than a chart: the same five pairs of numbers, and the browser
# redraws one grid per change instead of a plotly figure (measured in bench_ui_latency).
top = max(max(e.prob, e.baseline_prob) for e in view.top5) if view.top5 else 1.0
pred_table.dataframe(
    view.top5_table, hide_index=True,
    column_order=("class", "baseline_probability", "probability", "change"),
    column_config={
        "class": st.column_config.TextColumn("class", width="medium"),
        "baseline_probability": st.column_config.ProgressColumn(
            "baseline", format="%.3f", min_value=0.0, max_value=top, width="small",
            help="Probability without the regularizer."),
        "probability": st.column_config.ProgressColumn(
            "this draw", format="%.3f", min_value=0.0, max_value=top,
            width="small", help="Probability with this draw of the regularizer."),
        "change": st.column_config.NumberColumn(
            "change", format="%+.3f", width="small", help="p minus the baseline's p"),
    },
)
pred_table.caption("Top-5 with the regularizer, against the baseline (bars share one scale).")
with pred_numbers:
    k1, k2 = st.columns(2)
    k1.metric("top-1 changed", "yes" if view.flipped else "no",
              help="Does this draw's top-1 class differ from the baseline's?")
    k2.metric("KL(baseline ‖ draw)", f"{view.kl:.4f}",
              help="How far the whole predicted distribution moved, in nats.")

if view.drops:
    st.subheader("Target vs measured drop, every site")
    # A table, not a chart: one row per site stays readable for 30+ sites and is light
    # for the browser to redraw on every change.
    top = max(max(d.target_p, d.measured_drop) for d in view.drops) or 1.0
    st.dataframe(
        view.drops_table, hide_index=True, height=min(38 + 35 * len(view.drops), 400),
        column_config={
            "site": st.column_config.TextColumn("site"),
            "target_p": st.column_config.NumberColumn("target p", format="%.3f"),
            "expected_drop": st.column_config.NumberColumn(
                "expected", format="%.3f",
                help="Analytic expectation; below the target only for DropBlock's paper γ."),
            "measured_drop": st.column_config.ProgressColumn(
                "measured (this draw)", format="%.3f", min_value=0.0, max_value=top),
            "deviation": st.column_config.NumberColumn(
                "measured − expected", format="%+.3f",
                help="Sampling noise of one draw if the implementation is right."),
        },
    )


def _cams_png() -> bytes:
    # Runs only when the button is clicked: the probe is a cache hit (or drawn again).
    result = cached_probe(loaded.model, x, reg.settings, seed=reg.seed, record=recorded,
                          image=digest).result
    return render.png_bytes(render.grid([cam_pictures(loaded, x, result)]))


st.subheader("Download")
files = [
    Download("CAMs (PNG)", _cams_png, "droplab_cams.png", "image/png"),
    Download("Top-5 (CSV)", lambda: csv_bytes(topk_records(view.top5)), "droplab_top5.csv",
             "text/csv"),
]
if site_view is not None:
    files.insert(1, Download("Masks (PNG)", lambda: site_view.grid, "droplab_masks.png",
                             "image/png"))
if view.drops:
    files.append(Download("Drop rates (CSV)", lambda: csv_bytes(drop_records(view.drops)),
                          "droplab_drop_rates.csv", "text/csv"))
files.append(Download("Everything (JSON)", lambda: json_bytes({
    **settings_record(reg, picture.name),
    "model": loaded.name, "weights": loaded.weights_source, "random_weights": loaded.is_random,
    "elapsed_s": view.elapsed_s, "masks_fingerprint": view.fingerprint, "site": site,
    "top5": topk_records(view.top5), "drop_rates": drop_records(view.drops),
}), "droplab_result.json", "application/json"))
download_row(files)
