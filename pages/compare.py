"""Compare: one picture, several settings side by side (the DropBlock paper's figure, live)."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st
import torch

from dropcore.probe import METHODS, Lookup, ProbeSettings
from models import LoadedModel
from pages.ui import catalog as c
from pages.ui import render
from pages.ui.exports import Download, csv_bytes, download_row
from pages.ui.inputs import choose_image
from pages.ui.layout import page_panel
from pages.ui.model import require_model
from pages.ui.probing import model_input, run_probe, sites_of
from pages.ui.shared import shared
from pages.ui.views import CamImages, cam_images, input_view, mask_mosaic, top1_text


def cells(kind: str, base: ProbeSettings) -> list[tuple[str, ProbeSettings]]:
    """The settings of each cell of a comparison, with their titles."""
    block = replace(base, method="drop_block")
    if kind == "block_size":
        return [("no regularizer", replace(base, method="none"))] + [
            (f"DropBlock, block {b}", replace(block, block_size=b)) for b in (1, 3, 7)
        ]
    if kind == "methods":
        # DropPath cannot act on the skip path; it reads 'both' as the branch.
        path = replace(base, where="both") if base.where == "skip" else base
        return [
            (c.METHOD_LABELS[m], replace(path if m == "drop_path" else base, method=m))
            for m in METHODS
        ]
    if kind == "keep_prob":
        return [
            (f"keep_prob {k:.2f}", replace(block, p=c.drop_probability(k)))
            for k in (1.0, 0.9, 0.75, 0.5)
        ]
    return [(f"γ {g} · {s} seeds", replace(block, gamma=g, seeding=s)) for g, s in c.GAMMA_SEEDING]


def cell_pictures(
    loaded: LoadedModel, x: torch.Tensor, lookup: Lookup, site: str | None
) -> tuple[CamImages, bytes | None]:
    """A cell's CAM images and mask mosaic (PNG), drawn once per server for its probe."""
    result = lookup.result
    record = result.site(site) if site else None
    cams = shared(lookup.key, "cams", lambda: cam_images(loaded, x, result))
    if record is None:
        return cams, None

    def draw_mosaic() -> bytes | None:
        mosaic = mask_mosaic(record)
        return None if mosaic is None else render.png_bytes(mosaic)

    return cams, shared(lookup.key, ("mosaic", site), draw_mosaic)


def grid_png(
    loaded: LoadedModel, x: torch.Tensor, shown: list[tuple[str, str | None, Lookup]]
) -> bytes:
    """The whole grid as one PNG, drawn losslessly when the button is clicked."""
    view = input_view(loaded, x)
    masks, overlays = [], []
    for _, site, lookup in shown:
        record = lookup.result.site(site) if site else None
        mosaic = mask_mosaic(record) if record is not None else None
        masks.append(mosaic if mosaic is not None else render.blank_tile())
        overlays.append(render.overlay(view, lookup.result.cams[0]))
    return render.png_bytes(
        render.grid(
            [masks, overlays], labels=("mask", "Grad-CAM"), titles=[title for title, _, _ in shown]
        )
    )


panel = page_panel(
    "compare",
    "Compare",
    "The same picture under several settings at once: each cell shows one draw's mask at "
    "a site, the Grad-CAM of that draw and its top-1 class. The default grid is the "
    "DropBlock paper's figure: no regularizer, then block_size 1 (which is dropout), "
    "3 and 7 at keep_prob 0.9.",
)
picture = choose_image(panel)
if panel.shows("method", "strength", "dropblock"):
    panel.area.subheader("Grid")
kind = panel(c.COMPARISON)
keep = panel(c.KEEP, disabled=kind == "keep_prob")
block = panel(c.BLOCK, disabled=kind == "block_size")
if panel.shows("sites", "seed"):
    panel.area.subheader("Where")
stages = panel(c.STAGES_CONTROL)
where = panel(c.WHERE_CONTROL)
mask_stage = panel(c.MASK_STAGE)
seed = panel(c.SEED)
loaded = require_model()
panel.show_problems()
if not stages:
    st.error("Choose at least one stage under **Where** in the sidebar.")
    st.stop()

try:
    base = ProbeSettings(
        method="drop_block",
        p=c.drop_probability(keep),
        block_size=block,
        stages=stages,
        where=where,
    )
    grid_cells = cells(kind, base)
except ValueError as err:
    st.error(f"These settings do not work together: {err}")
    st.stop()

x = model_input(loaded, picture)
progress = st.progress(0.0, text="Running the grid...")
shown: list[tuple[str, str | None, Lookup]] = []
skipped: list[str] = []
for i, (title, settings) in enumerate(grid_cells):
    sites = sites_of(loaded, settings)
    if sites.problem:  # e.g. DropConnect where only identity shortcuts are chosen
        skipped.append(f"**{title}**: {sites.problem}")
        continue
    site = next((n for n in sites.names if n.startswith(f"{mask_stage}.")), None)
    lookup = run_probe(loaded, x, settings, seed, record={site} if site else False)
    if lookup is None:
        st.stop()
    shown.append((title, site, lookup))
    # Updating the bar is where Streamlit stops this run if the person changed something.
    progress.progress((i + 1) / len(grid_cells), text=f"{title}: {lookup.result.elapsed_s:.2f} s")
progress.empty()
if skipped:
    st.warning(
        "Not shown, because the setting selects nothing to regularize:\n\n"
        + "\n".join(f"- {s}" for s in skipped)
    )


first = shown[0][2].result
head = st.columns([1, 1, 2])
first_cams, _ = cell_pictures(loaded, x, shown[0][2], None)
head[0].image(first_cams.view, caption=f"Input ({picture.name})", width="stretch")
head[1].image(
    first_cams.baseline,
    caption=f"Baseline: {top1_text(loaded, first.baseline_logits)}",
    width="stretch",
)
head[2].markdown(
    f"**Masks at the first site of {mask_stage}** (red = dropped; the 16 most active "
    "channels). "
    "Grad-CAM shows where the class evidence is; with larger blocks whole regions go "
    "missing in a draw. The paper reports that networks *trained* with DropBlock spread "
    "their CAMs over more of the object, more so for block 7 than block 1."
)
head[2].caption(
    f"Seed {seed} · total {sum(lk.result.elapsed_s for _, _, lk in shown):.2f} s of passes"
)

per_row = 4 if len(shown) <= 4 else 3
table = []
for start in range(0, len(shown), per_row):
    row = shown[start : start + per_row]  # the last row may be short
    for col, (title, site, lookup) in zip(st.columns(per_row), row, strict=False):
        result = lookup.result
        box = col.container(border=True)
        box.markdown(f"**{title}**")
        record = result.site(site) if site else None
        cams, mosaic = cell_pictures(loaded, x, lookup, site)
        if mosaic is not None:
            box.image(
                mosaic,
                caption=f"{site}: masks of the 16 most active channels",
                width="stretch",
                output_format="PNG",
            )
        else:
            box.info(f"Nothing is dropped in {mask_stage} with this setting.")
        top1 = top1_text(loaded, result.logits[0])
        box.image(cams.regularized, caption=f"top-1: {top1}", width="stretch")
        if record is not None:
            box.caption(f"dropped here: {record.measured_drop:.3f} (target {record.target_p:.3f})")
        table.append(
            {
                "cell": title,
                "site": site or "",
                "top1": top1,
                "target_p": record.target_p if record else 0.0,
                "measured_drop": record.measured_drop if record else 0.0,
                "masks_fingerprint": render.fingerprint(result, record),
                "seconds": result.elapsed_s,
            }
        )

st.subheader("Download")
download_row(
    [
        Download(
            "Grid (PNG)", lambda: grid_png(loaded, x, shown), "droplab_compare.png", "image/png"
        ),
        Download("Cells (CSV)", csv_bytes(table), "droplab_compare.csv", "text/csv"),
    ]
)
