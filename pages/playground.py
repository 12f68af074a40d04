"""Playground: one regularizer, live, on one picture: CAMs, masks, predictions, drop rates."""

from __future__ import annotations

import streamlit as st

from dropcore.probe import drop_table, flip_rate, kl_divergence, topk_with_delta
from pages.ui import catalog as c
from pages.ui import render
from pages.ui.charts import CHART_CONFIG, FrozenFigure, bars
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
from pages.ui.probing import model_input, pass_text, run_probe, sites_of
from pages.ui.regularizer import regularizer_controls
from pages.ui.shared import shared
from pages.ui.views import cam_images, cam_pictures, site_pictures, top1_text

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
sites = sites_of(loaded, reg.settings)
if sites.problem:  # e.g. DropConnect on identity shortcuts only: nothing to drop
    panel.show_problems()
    st.error(f"These settings select nothing to regularize: {sites.problem}",
             icon=":material/error:")
    st.stop()
site = panel(c.SITE, options=sites.names, area=site_row[0]) if sites.names else None
lookup = run_probe(loaded, x, reg.settings, reg.seed, record={site} if site else False)
panel.show_problems()
if lookup is None:
    st.stop()
result = lookup.result

record = result.site(site) if site else None
fp = render.fingerprint(result, record)
status.caption(
    f"**{reg.summary()}** · seed {reg.seed} · {pass_text(lookup, loaded.device.type)} · "
    f"masks fingerprint `{fp}`",
    help="The fingerprint hashes the masks shown and the top-1 class: a shared link that "
    "reproduces this view shows the same fingerprint. A shared result is one this server "
    "had already computed for the same picture, settings and seed.",
)

# Pictures depend on nothing but the probe and the site: drawn once per server for them.
cams = shared(lookup.key, "cams", lambda: cam_images(loaded, x, result))
site_view = None if record is None else shared(
    lookup.key, ("site", site), lambda: site_pictures(record))
captions = (
    f"Input ({picture.name}), as the network sees it",
    f"Baseline: {top1_text(loaded, result.baseline_logits)}",
    f"With {c.METHOD_LABELS[reg.settings.method]}: {top1_text(loaded, result.logits[0])}",
)
for col, img, cap in zip(pictures_row, (cams.view, cams.baseline, cams.regularized), captions,
                         strict=True):
    col.image(img, caption=cap, width="stretch")

if record is None:
    site_row[0].info(
        "No regularizer is injected, so there are no masks: the right-hand CAM equals the "
        "baseline. Pick a method in the sidebar (or a lesson preset)."
    )
else:
    with site_row[0]:
        m1, m2, m3 = st.columns(3)
        m1.metric("target p", f"{record.target_p:.3f}",
                  help="Drop probability asked for at this site (1 - keep_prob, after "
                  "depth scaling).")
        m2.metric("expected", f"{record.expected_drop:.3f}",
                  help="Analytic expected dropped fraction for these settings (below the "
                  "target for DropBlock's paper gamma).")
        m3.metric("measured", f"{record.measured_drop:.3f}",
                  help="Fraction of this draw's mask that is dropped.")
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
top5 = topk_with_delta(result.baseline_logits, result.logits, 5, loaded.categories)
pred_chart, pred_numbers = st.columns([3, 2])
# Drawn once per server for this probe, like the pictures: building it is most of a rerun.
top5_chart = shared(lookup.key, "top5", lambda: FrozenFigure.of(bars(
    [e.name or str(e.index) for e in top5],
    {"baseline": [e.baseline_prob for e in top5], "regularized": [e.prob for e in top5]},
    horizontal=True, x_title="probability",
    title="Top-5 with the regularizer, against the baseline")))
pred_chart.plotly_chart(top5_chart.thaw(), config=CHART_CONFIG, key="top5")
with pred_numbers:
    k1, k2 = st.columns(2)
    k1.metric("top-1 changed", "yes" if flip_rate(result.baseline_logits, result.logits) else
              "no", help="Does this draw's top-1 class differ from the baseline's?")
    kl = kl_divergence(result.baseline_logits, result.logits)[0]
    k2.metric("KL(baseline ‖ draw)", f"{kl:.4f}",
              help="How far the whole predicted distribution moved, in nats.")
    st.dataframe(
        topk_records(top5), hide_index=True,
        # The baseline's probabilities are in the chart and the CSV; here: how they moved.
        column_order=("class", "probability", "change"),
        column_config={
            "class": st.column_config.TextColumn("class", width="medium"),
            "probability": st.column_config.NumberColumn("p", format="%.3f", width="small"),
            "change": st.column_config.NumberColumn(
                "change", format="%+.3f", width="small", help="p minus the baseline's p"),
        },
    )

drops = drop_table(result)
if drops:
    st.subheader("Target vs measured drop, every site")
    # A table, not a chart: one row per site stays readable for 30+ sites and is light
    # for the browser to redraw on every change.
    top = max(max(d.target_p, d.measured_drop) for d in drops) or 1.0
    st.dataframe(
        drop_records(drops), hide_index=True, height=min(38 + 35 * len(drops), 400),
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

st.subheader("Download")
files = [
    Download("CAMs (PNG)",
             lambda: render.png_bytes(render.grid([cam_pictures(loaded, x, result)])),
             "droplab_cams.png", "image/png"),
    Download("Top-5 (CSV)", csv_bytes(topk_records(top5)), "droplab_top5.csv", "text/csv"),
]
if site_view is not None:
    files.insert(1, Download("Masks (PNG)", site_view.grid, "droplab_masks.png", "image/png"))
if drops:
    files.append(Download("Drop rates (CSV)", csv_bytes(drop_records(drops)),
                          "droplab_drop_rates.csv", "text/csv"))
files.append(Download("Everything (JSON)", json_bytes({
    **settings_record(reg, picture.name),
    "model": loaded.name, "weights": loaded.weights_source, "random_weights": loaded.is_random,
    "elapsed_s": result.elapsed_s, "masks_fingerprint": fp, "site": site,
    "top5": topk_records(top5), "drop_rates": drop_records(drops),
}), "droplab_result.json", "application/json"))
download_row(files)
