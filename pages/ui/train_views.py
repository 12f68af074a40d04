"""Sections of the Train page: the curves, the trained networks explained, links that open
a trained network on the other pages, and the weights as a download."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence

import streamlit as st

from dropcore.train import RunConfig
from dropcore.train.summary import curves
from models import WeightsError

from . import catalog as c
from . import render
from .charts import CHART_CONFIG
from .controls import Panel
from .picker import net_label
from .train_charts import curve_figure, spread_bars
from .train_controls import Plan
from .train_explain import (
    CAM_IMAGES,
    SPREAD_IMAGES,
    cam_grid,
    gradient_pictures,
    known_spreads,
    measure_spreads,
)
from .train_runs import Board, run_cache

__all__ = ["curves_row", "explain_section", "open_links", "weights_zip"]

# Grad-CAM rows beyond this many variants would make pictures too small to read.
_MAX_CAM_ROWS = 6


def curves_row(plan: Plan, b: Board) -> None:
    """Accuracy and loss per epoch for every variant (mean over seeds, band ± sd)."""
    records: dict[str, list[Sequence[object]]] = {
        v.label: [b.of(cfg).epochs for cfg in v.configs if b.of(cfg).epochs] for v in plan.variants
    }
    records = {k: v for k, v in records.items() if v}
    if not records:
        st.caption("The curves appear here after each run's first epoch.")
        return
    labels = [v.label for v in plan.variants]
    epochs = max(cfg.epochs for cfg in plan.configs)
    left, right = st.columns(2)
    left.plotly_chart(
        curve_figure(
            labels,
            curves(records, "val_acc"),
            curves(records, "train_eval_acc"),
            title="Accuracy: validation (solid) and training (dashed)",
            y_title="accuracy",
            epochs=epochs,
        ),
        config=CHART_CONFIG,
        key="curves_acc",
    )
    right.plotly_chart(
        curve_figure(
            labels,
            curves(records, "val_loss"),
            curves(records, "train_loss"),
            title="Loss: validation (solid) and training (dashed)",
            y_title="cross-entropy",
            epochs=epochs,
        ),
        config=CHART_CONFIG,
        key="curves_loss",
    )
    st.caption(
        "Lines: the mean over seeds; bands: ± one standard deviation. Training accuracy is "
        "measured in eval mode (nothing dropped), like validation accuracy, so the space "
        "between a dashed and a solid line of one colour is the gap. Training loss is the "
        "loss the optimizer saw, with the regularizer dropping."
    )


def _first_seeds(plan: Plan, b: Board) -> tuple[list[str], list[RunConfig]]:
    pairs = [
        (v.label, v.configs[0]) for v in plan.variants if b.of(v.configs[0]).result is not None
    ][:_MAX_CAM_ROWS]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def explain_section(plan: Plan, b: Board, panel: Panel) -> None:
    """Grad-CAM of the trained networks, their CAM spread, and the mask-gradient check."""
    labels, configs = _first_seeds(plan, b)
    if not configs:
        return
    st.subheader("Inside the trained networks")
    try:
        grid = cam_grid(labels, configs)
    except (WeightsError, OSError, ValueError) as err:
        st.warning(f"The trained networks could not be loaded: {err}", icon=":material/warning:")
        return
    st.image(
        render.png_bytes(grid),
        output_format="PNG",
        caption=f"Grad-CAM (layer4) of each network's own top-1 class on the same "
        f"{CAM_IMAGES} validation pictures (seed 0 of each variant). Warm colours: "
        "where the network looked.",
    )
    _spread_chart(plan, labels)
    st.download_button(
        "Grad-CAM grid (PNG)",
        render.png_bytes(grid),
        file_name="droplab_train_cams.png",
        mime="image/png",
        on_click="ignore",
        icon=":material/image:",
        key="dl_cams",
    )
    _gradient_check(panel)


def _spread_chart(plan: Plan, labels: list[str]) -> None:
    variants = [v for v in plan.variants if v.label in labels]
    spreads = [known_spreads(v.configs) for v in variants]
    if any(s is None for s in spreads):
        runs = sum(len(v.configs) for v in variants)
        offer = st.empty()  # the offer goes once the measurement is there
        with offer.container():
            st.markdown(
                f"**CAM spread:** the share of a picture where Grad-CAM is above half its "
                f"peak, averaged over {SPREAD_IMAGES} validation pictures, for each of the "
                f"{runs} trained networks. Measured once per server, then shown to everyone."
            )
            if not st.button(
                "Measure the CAM spread", icon=":material/straighten:", key="measure_spread"
            ):
                return
            bar = st.progress(0.0, text="Grad-CAM of every trained network...")
            measure_spreads(
                [cfg for v in variants for cfg in v.configs],
                lambda done, total: bar.progress(
                    done / total, text=f"{done} of {total} networks measured"
                ),
            )
        offer.empty()
        spreads = [known_spreads(v.configs) for v in variants]
    left, right = st.columns([3, 2])
    left.plotly_chart(
        spread_bars(
            labels,
            [s for s in spreads if s is not None],
            title="CAM spread (share of the picture above half the CAM's peak)",
            y_title="share of the picture",
        ),
        config=CHART_CONFIG,
        key="cam_spread",
    )
    right.markdown(
        f"Averaged over {SPREAD_IMAGES} validation pictures per network, then mean ± sd "
        "over the seeds. The paper saw networks trained with DropBlock spread their CAM "
        "over more of the object (more for block 7 than block 1). A difference smaller "
        "than the error bars is not one this run can show."
    )


def _gradient_check(panel: Panel) -> None:
    with st.expander(
        "Check it yourself: the backward pass uses the forward's mask", icon=":material/function:"
    ):
        st.markdown(
            "Dropout noise is not only in the forward pass: the gradient flows through the "
            "kept units only, multiplied by the same rescaling. Below, DropBlock (keep_prob "
            "0.75, block 5) on random 14 × 14 activations, then the gradient of a weighted "
            "sum with non-zero weights: it must be **exactly zero where the mask dropped** "
            "and non-zero everywhere else."
        )
        seed = panel(c.SEED, area=st.container())
        x, keep, grad, zero, nonzero, scale = gradient_pictures(int(seed))
        cols = st.columns(3)
        cols[0].image(x, caption="|activation|, channel 0", output_format="PNG")
        cols[1].image(keep, caption="forward keep mask (red = dropped)", output_format="PNG")
        cols[2].image(
            grad, caption=f"|gradient| (kept × {scale:.3f} × weight)", output_format="PNG"
        )
        if zero and nonzero:
            st.success(
                "Gradient is 0 at every dropped position and non-zero at every kept "
                "one: the backward used the forward's mask.",
                icon=":material/check_circle:",
            )
        else:
            st.error("The gradient does not follow the mask.", icon=":material/error:")


def open_links(plan: Plan, b: Board) -> None:
    """Links that open each variant's trained network (seed 0) on the other pages."""
    labels, configs = _first_seeds(plan, b)
    if not configs:
        return
    st.subheader("Open a trained network")
    st.caption(
        "The Playground, Compare and Uncertainty pages work on these networks "
        "too, with Fashion-MNIST pictures: masks, Grad-CAM and predictions."
    )
    for label, cfg in zip(labels, configs, strict=True):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        row.markdown(f"**{label}**", width="content")
        query = {"net": net_label(cfg)}
        row.page_link(
            "pages/playground.py", label="Playground", icon=":material/tune:", query_params=query
        )
        row.page_link(
            "pages/compare.py", label="Compare", icon=":material/grid_view:", query_params=query
        )
        row.page_link(
            "pages/uncertainty.py",
            label="Uncertainty",
            icon=":material/casino:",
            query_params=query,
        )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def weights_zip(plan: Plan) -> bytes:
    """Every finished run's weights (``torch.load(..., weights_only=True)``) and config."""
    cache = run_cache()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for variant in plan.variants:
            for cfg in variant.configs:
                path = cache.weights_path(cfg)
                if not path.is_file():
                    continue
                stem = f"{_safe(variant.label)}_seed{cfg.seed}_{cfg.key()}"
                z.write(path, f"{stem}.pt")
                z.writestr(f"{stem}.json", json.dumps(cfg.to_dict(), indent=1))
    return buf.getvalue()
