"""The math: DropBlock's seed rate, where blocks land, schedules, dropout scaling, and how
dropout differs from pruning and L2. Needs no network; every number comes from dropcore."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st
import torch
from torch import nn
from torch.nn.utils import prune

import dropcore
from dropcore.gamma import Seeding
from pages.ui import catalog as c
from pages.ui import render
from pages.ui.charts import CHART_CONFIG, bars, heatmap, lines
from pages.ui.controls import Panel
from pages.ui.exports import Download, csv_bytes, download_row, json_bytes
from pages.ui.layout import page_panel
from pages.ui.mapmath import GammaNumbers, MapSetting, combo_name, gamma_numbers, measured_masks

# The map tab's two seedings, the paper's first.
SEEDINGS_SHOWN: tuple[Seeding, ...] = ("valid", "uniform")


def _gamma_formulas() -> None:
    st.markdown(
        "DropBlock draws Bernoulli(γ) **seeds** and grows each into a "
        "`block_size` square. The paper picks γ so that the dropped fraction "
        "*would* be $1-\\text{keep\\_prob}$ if blocks never overlapped and only "
        "seeded where a whole block fits:"
    )
    st.latex(
        r"\gamma_\text{paper}=\frac{1-k}{b^2}\cdot\frac{H\,W}{(H-b+1)(W-b+1)}"
        r"\qquad k=\text{keep\_prob},\; b=\text{block\_size}"
    )
    st.markdown(
        "Blocks do overlap, so fewer pixels are dropped than asked. Seeds are "
        "independent, so pixel $(i,j)$, covered by $c_i c_j$ seed positions, is "
        "dropped with probability"
    )
    st.latex(r"P(\text{drop}_{ij}) = 1-(1-\gamma)^{c_i c_j}")
    st.markdown(
        "With **uniform** seeding (blocks may hang over the border) every pixel has "
        "$c_i c_j = \\text{block\\_size}^2$, which gives the exact rate in closed "
        "form; for **valid** seeding dropcore solves for γ numerically."
    )
    st.latex(r"\gamma_\text{exact, uniform}=1-k^{\,1/b^2}")


def _gamma_table(s: MapSetting, numbers: GammaNumbers) -> None:
    st.markdown(
        f"**{s.height} x {s.width} map, block_size {s.block}, keep_prob {s.keep:.2f}** "
        f"(target: drop {s.p:.3f})"
    )
    st.dataframe(
        list(numbers.rows.values()),
        hide_index=True,
        column_config={
            k: st.column_config.NumberColumn(format="%.4f")
            for k in ("γ", "expected dropped", "measured dropped", "target")
        },
    )
    paper = numbers.rows[combo_name("paper", "valid")]["expected dropped"]
    shortfall = s.p - paper
    if s.p > 0 and abs(shortfall) > 0.0005:
        st.caption(
            f"The paper's setting drops {paper:.3f} instead of {s.p:.3f}: "
            f"{abs(shortfall) / s.p:.0%} {'less' if shortfall > 0 else 'more'} than asked."
        )


def _gamma_sweeps(s: MapSetting, numbers: GammaNumbers) -> None:
    sweep = numbers.sweep
    col_a, col_b = st.columns(2)
    # Zoomed on the target: the interesting gaps are a few percent of p. A curve that
    # leaves the chart is named in the caption below it.
    top = min(1.0, max(2.5 * s.p, 0.05))
    by_block = lines(
        numbers.sizes,
        sweep,
        x_title="block_size",
        y_title="dropped fraction",
        title=f"vs block_size (keep_prob {s.keep:.2f}); circles: measured",
        marker_x=s.block,
        points=numbers.measured,
        y_range=(0, top),
    )
    col_a.plotly_chart(by_block, config=CHART_CONFIG, key="sweep_block")
    escaped = [name for name, ys in sweep.items() if max(ys) > top]
    if escaped:
        col_a.caption(
            f"Off the chart: {', '.join(escaped)} reaches "
            f"{max(max(sweep[n]) for n in escaped):.2f}. Seeding everywhere with the "
            "paper's γ (what timm ≥ 1.0.23 does) overshoots the target several times."
        )
    by_keep = lines(
        numbers.keeps,
        numbers.by_keep,
        x_title="keep_prob",
        y_title="dropped fraction",
        title=f"vs keep_prob (block_size {s.block}); circles: measured",
        marker_x=s.keep,
        points=numbers.measured_keep,
    )
    col_b.plotly_chart(by_keep, config=CHART_CONFIG, key="sweep_keep")


def _gamma_downloads(s: MapSetting, numbers: GammaNumbers) -> None:
    rows = list(numbers.rows.values())
    sweep_rows = [
        {
            "block_size": b,
            "keep_prob": s.keep,
            "gamma": gm,
            "seeding": sd,
            "expected_dropped": numbers.sweep[combo_name(gm, sd)][i],
            "measured_dropped": numbers.measured[combo_name(gm, sd)][1][i],
        }
        for gm, sd in c.GAMMA_SEEDING
        for i, b in enumerate(numbers.sizes)
    ]
    everything = {
        "map": [s.height, s.width],
        "block_size": s.block,
        "keep_prob": s.keep,
        "seed": s.seed,
        "table": rows,
        "block_sweep": sweep_rows,
    }
    download_row(
        [
            Download("Table (CSV)", csv_bytes(rows), "droplab_gamma.csv", "text/csv"),
            Download(
                "Sweep over block_size (CSV)",
                csv_bytes(sweep_rows),
                "droplab_block_sweep.csv",
                "text/csv",
            ),
            Download(
                "All of it (JSON)", json_bytes(everything), "droplab_gamma.json", "application/json"
            ),
        ]
    )


def gamma_tab(s: MapSetting) -> None:
    """Seed rate γ: the paper's formula, the exact one, and what each really drops."""
    left, right = st.columns([2, 3])
    with left:
        _gamma_formulas()
    numbers = gamma_numbers(s)
    with right:
        _gamma_table(s, numbers)
    _gamma_sweeps(s, numbers)
    _gamma_downloads(s, numbers)


def map_tab(s: MapSetting) -> None:
    """Where blocks land: the per-pixel drop probability, exact and measured."""
    p, block, height, width, gamma_mode = s.p, s.block, s.height, s.width, s.gamma
    st.markdown(
        "The probability that each pixel is dropped. With the paper's **valid** seeding, "
        "a corner pixel is covered by one seed position and a central one by up to "
        "block_size², so blocks pile up in the middle: the network learns to cope with "
        "missing centres more than missing borders. **Uniform** seeding is flat."
    )
    maps = {
        sd: dropcore.drop_probability_map(
            p, block, height, width, gamma=gamma_mode, seeding=sd
        ).numpy()
        for sd in SEEDINGS_SHOWN
    }
    map_top = max(float(m.max()) for m in maps.values()) or 1.0
    cols = st.columns(2)
    for col, (sd, prob) in zip(cols, maps.items(), strict=True):
        col.plotly_chart(
            heatmap(
                prob,
                title=f"{sd} seeding, γ {gamma_mode}: P(drop)",
                zmin=0,
                zmax=map_top,
                colorbar_title="P",
            ),
            config=CHART_CONFIG,
            key=f"map_{sd}",
        )
        centre = prob[(height - 1) // 2, (width - 1) // 2]
        mean = dropcore.expected_drop_fraction(
            p, block, height, width, gamma=gamma_mode, seeding=sd
        )
        col.caption(
            f"centre {centre:.3f} · corner {prob[0, 0]:.3f} · mean {mean:.3f} (target {p:.3f})"
        )
    draws, frequency, four = measured_masks(s)
    examples, freq = st.columns(2)
    tiles = [render.mask_tile(torch.from_numpy(m), size=112) for m in four]
    examples.markdown(
        f"**Four draws** ({s.seeding} seeding, γ {gamma_mode}, seed {s.seed}; red = dropped)"
    )
    examples.image(
        render.png_bytes(render.grid([tiles[:2], tiles[2:]])), width=360, output_format="PNG"
    )
    freq.plotly_chart(
        heatmap(
            frequency,
            zmin=0,
            zmax=map_top,
            title=f"Measured over {draws} draws ({s.seeding})",
            colorbar_title="freq",
        ),
        config=CHART_CONFIG,
        key="measured_map",
    )


def schedule_tab(panel: Panel) -> None:
    """The linear keep_prob schedule; its own controls."""
    st.markdown(
        "The paper lowers keep_prob linearly during training; starting at 1.0 (no "
        "dropping) and ending at the target works better than a fixed value. "
        "`dropcore.LinearSchedule` is a pure function of the step: evaluation cannot "
        "advance it, and fractional steps (epochs) are fine."
    )
    st.latex(
        r"\text{keep\_prob}(t)=k_\text{start}+(k_\text{end}-k_\text{start})"
        r"\cdot\min\!\left(\tfrac{t}{T},1\right)"
    )
    controls, chart = st.columns([1, 2])
    with controls:
        start = panel(c.START_KEEP, area=controls)
        end = panel(c.END_KEEP, area=controls)
        total = panel(c.TOTAL_STEPS, area=controls)
        step = panel(c.STEP, area=controls, hi=total)
        schedule = dropcore.LinearSchedule(start_keep=start, end_keep=end, total_steps=total)
        st.metric(
            "keep_prob at this step",
            f"{schedule.keep_prob(step):.4f}",
            help="LinearSchedule.keep_prob(step)",
        )
        st.metric(
            "drop probability p",
            f"{schedule.drop_prob(step):.4f}",
            help="LinearSchedule.drop_prob(step) = 1 - keep_prob",
        )
    steps = np.linspace(0, total * 1.25, 101).tolist()
    chart.plotly_chart(
        lines(
            steps,
            {"keep_prob": [schedule.keep_prob(float(t)) for t in steps]},
            x_title="training step",
            y_title="keep_prob",
            marker_x=step,
            title="keep_prob over training (flat after the last step)",
            y_format=".4f",
        ),
        config=CHART_CONFIG,
        key="schedule",
    )


def scaling_tab(s: MapSetting) -> None:
    """Inverted vs vanilla dropout: where the 1 / keep_prob goes."""
    p, keep = s.p, s.keep
    st.markdown(
        "Dropping units changes the expected activation, so train and test must be "
        "rescaled to agree. **Inverted** dropout (every framework) divides kept units "
        "by keep_prob while training and does nothing at test time. The original "
        "**vanilla** dropout leaves training alone and multiplies by keep_prob at test "
        "time. Either way the expected output matches between the two modes:"
    )
    inv, van = st.columns(2)
    inv.latex(r"\text{inverted: } y_\text{train}=\frac{m\odot x}{k},\quad y_\text{test}=x")
    van.latex(r"\text{vanilla: } y_\text{train}=m\odot x,\quad y_\text{test}=k\,x")
    st.caption("k = keep_prob; each m_i is 1 with probability k, else 0.")
    gen = torch.Generator().manual_seed(s.seed)
    x = torch.rand(200_000, generator=gen) + 0.5
    means: dict[str, list[float]] = {"train (one draw)": [], "test": []}
    units: dict[str, list[float]] = {"input x": x[:12].tolist()}
    for name, inverted in (("inverted", True), ("vanilla", False)):
        train = dropcore.dropout(x, p, inverted=inverted, training=True, generator=gen)
        test = dropcore.dropout(x, p, inverted=inverted, training=False)
        means["train (one draw)"].append(train.mean().item())
        means["test"].append(test.mean().item())
        units[f"{name}, train"] = train[:12].tolist()
    units["vanilla, test"] = dropcore.dropout(x[:12], p, inverted=False, training=False).tolist()
    left, right = st.columns(2)
    left.plotly_chart(
        bars(
            ["inverted", "vanilla"],
            means,
            y_title="mean activation",
            title=f"Mean of 200,000 units (input mean {x.mean().item():.3f})",
        ),
        config=CHART_CONFIG,
        key="scaling",
    )
    right.plotly_chart(
        bars(
            [str(i) for i in range(12)],
            units,
            x_title="unit",
            y_title="value",
            title=f"The first 12 units of one draw (keep_prob {keep:.2f})",
            value_format=".2f",
            show_text=False,
        ),
        config=CHART_CONFIG,
        key="units",
    )
    st.caption(
        "Inverted dropout keeps the input's scale in both modes; vanilla dropout runs at "
        "keep_prob times that scale in both. A network trained one way and evaluated the "
        "other would be off by a factor of keep_prob."
    )


def pruning_tab(panel: Panel, s: MapSetting) -> None:
    """Dropout vs pruning vs L2 on one 16 x 16 weight matrix; its own controls."""
    p, keep = s.p, s.keep
    st.markdown(
        "| | Dropout / DropConnect | Pruning | L2 weight decay |\n"
        "|---|---|---|---|\n"
        "| acts on | activations / weights, at random | the weights that matter least |"
        " every weight |\n"
        "| when | training only; all units are back at test time | permanently |"
        " training |\n"
        "| purpose | against overfitting (an ensemble of thinned networks) | a smaller, "
        "faster model; accuracy is recovered by fine-tuning | against overfitting "
        "(small weights) |\n"
        "| changes each step | yes, a new random mask | no | shrinks every weight a "
        "little |\n\n"
        "Dropout can be read as the most random and most temporary form of pruning."
    )
    prune_col, decay_col = st.columns(2)
    prune_amount = panel(c.PRUNE, area=prune_col)
    decay = panel(c.L2_DECAY, area=decay_col)
    gen = torch.Generator().manual_seed(s.seed)
    layer = nn.Linear(16, 16, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(16, 16, generator=gen))
    original = layer.weight.detach().clone()
    dropped_w = dropcore.drop_connect(original, p, generator=gen)
    pruned_layer = nn.Linear(16, 16, bias=False)
    with torch.no_grad():
        pruned_layer.weight.copy_(original)
    prune.l1_unstructured(pruned_layer, "weight", amount=prune_amount)
    decayed = nn.Parameter(original.clone())
    sgd = torch.optim.SGD([decayed], lr=0.1, weight_decay=decay)
    for _ in range(100):
        sgd.zero_grad()
        decayed.grad = torch.zeros_like(decayed)  # no data: only the decay acts
        sgd.step()
    scale = float(original.abs().max())
    panels = {
        "original weights": original,
        f"DropConnect draw (keep {keep:.2f})": dropped_w,
        f"pruned {prune_amount:.0%} (smallest |w|)": pruned_layer.weight.detach(),
        f"L2, 100 steps (λ {decay:.3f})": decayed.detach(),
    }
    cols = st.columns(4)
    for i, (col, (title, weights)) in enumerate(zip(cols, panels.items(), strict=True)):
        col.plotly_chart(
            heatmap(
                weights.numpy(),
                title=title,
                zmin=-scale,
                zmax=scale,
                colorscale="RdBu",
                show_scale=i == len(panels) - 1,
                height=260,
            ),
            config=CHART_CONFIG,
            key=f"w_{title.split()[0]}",
        )
        col.caption(
            f"zeros: {(weights == 0).float().mean().item():.0%} · "
            f"mean |w|: {weights.abs().mean().item():.3f}"
        )


def own_controls(panel: Panel, tab: Callable[..., None]) -> Callable[..., None]:
    """``tab`` as a fragment, so that moving its own controls reruns only the tab.

    Not when the teacher fixed the strength controls: they are then read-only, and
    moving nothing needs no partial rerun.
    """
    return st.fragment(tab) if panel.shows("strength") else tab


panel = page_panel(
    "math",
    "The math",
    "How each regularizer is defined, and where the published formulas are off. Every "
    "curve is computed live by `dropcore`; points marked *measured* are real random masks.",
)
panel.area.subheader("DropBlock on one feature map")
setting = MapSetting(
    keep=panel(c.KEEP),
    block=panel(c.BLOCK),
    height=panel(c.MAP_H),
    width=panel(c.MAP_W),
    gamma=panel(c.GAMMA),
    seeding=panel(c.SEEDING),
    seed=panel(c.SEED),
)

# (title, draw): the order on screen; each tab draws itself from the sidebar's setting.
TABS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("Seed rate γ", lambda: gamma_tab(setting)),
    ("Where blocks land", lambda: map_tab(setting)),
    ("Schedule", lambda: own_controls(panel, schedule_tab)(panel)),
    ("Inverted vs vanilla", lambda: scaling_tab(setting)),
    ("Dropout vs pruning vs L2", lambda: own_controls(panel, pruning_tab)(panel, setting)),
)
for area, (_, draw) in zip(
    st.tabs([title for title, _ in TABS], key="tab", bind="query-params"), TABS, strict=True
):
    with area:
        draw()

panel.show_problems()
