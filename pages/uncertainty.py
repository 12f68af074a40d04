"""Uncertainty: Monte Carlo dropout, N random draws of the regularizer at test time."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st
import torch

from dropcore.probe import entropy, flip_rate, kl_divergence, probabilities, topk_with_delta
from pages.ui import catalog as c
from pages.ui.charts import CHART_CONFIG, lines, strip
from pages.ui.exports import Download, csv_bytes, download_row, json_bytes, settings_record
from pages.ui.inputs import choose_image
from pages.ui.layout import lesson_presets, page_panel
from pages.ui.model import require_model
from pages.ui.probing import model_input, pass_text, run_probe
from pages.ui.regularizer import Regularizer, regularizer_controls
from pages.ui.views import top1_text


def _keep_current(history: list[dict[str, Any]]) -> None:
    # The current run stays: it is on screen, and a full rerun would add it straight back.
    del history[:-1]


@st.fragment
def trail_section(history: list[dict[str, Any]]) -> None:
    """The trail of this visit's runs; clearing it reruns only this section."""
    st.subheader("Your runs so far")
    trail, controls = st.columns([4, 1])
    trail.plotly_chart(
        lines(
            [h["keep_prob"] for h in history],
            {},
            x_title="keep_prob",
            y_title="flip rate",
            points={
                "measured": ([h["keep_prob"] for h in history], [h["flip_rate"] for h in history])
            },
            title="Flip rate of each run (move keep_prob or N and watch the trail)",
            y_format=".2f",
            x_range=(-0.02, 1.02),
            y_range=(-0.02, 1.02),
        ),
        config=CHART_CONFIG,
        key="trail",
    )
    controls.button(
        "Clear the trail", icon=":material/delete:", on_click=_keep_current, args=(history,)
    )
    controls.caption(f"{len(history)} run{'s' if len(history) != 1 else ''} in this browser tab.")


panel = page_panel(
    "uncertainty",
    "Uncertainty",
    "Keep the regularizer switched on at test time and ask the same question N times: "
    "each draw drops different units, so the answers spread (*Monte Carlo dropout*). "
    "How often the top-1 class flips and how wide the spread is are a cheap "
    "uncertainty estimate, and show how strongly a regularizer perturbs the network.",
    presets=True,
)
lesson_presets(panel)
picture = choose_image(panel)
panel.area.subheader("Monte Carlo")
draws = panel(c.DRAWS)
reg = regularizer_controls(panel)
loaded = require_model()
panel.show_problems()
if reg is None:
    st.stop()
chosen: Regularizer = reg  # the download's lambda below sees a declared type, not a narrowed one
if reg.settings.method == "none":
    st.info(
        "With no regularizer every draw is the same network: pick a method in the "
        "sidebar (or a lesson preset) to see a spread."
    )

x = model_input(loaded, picture)
lookup = run_probe(
    loaded, x, reg.settings, reg.seed, samples=draws, record=False, label="Monte Carlo draws"
)
if lookup is None:
    st.stop()
result = lookup.result

base, logits = result.baseline_logits, result.logits
per_draw_entropy = entropy(logits)
# log of the mean prediction, kept in log space so no probability underflows to log(0).
log_mean = torch.logsumexp(torch.log_softmax(logits.double(), -1), 0) - math.log(draws)
predictive = float(entropy(log_mean))
expected = float(per_draw_entropy.mean())
kl = kl_divergence(base, logits)

pass_line = pass_text(lookup.result.elapsed_s, lookup.shared, loaded.device.type)
st.caption(
    f"**{reg.summary()}** · {draws} draws · seed {reg.seed} · {pass_line} · "
    f"baseline top-1: {top1_text(loaded, base)}"
)
m = st.columns(4)
m[0].metric(
    "top-1 flip rate",
    f"{flip_rate(base, logits):.0%}",
    help="Fraction of draws whose top-1 class differs from the baseline's.",
)
m[1].metric(
    "entropy, baseline",
    f"{float(entropy(base)):.3f} nats",
    help="Uncertainty of the plain network's prediction.",
)
m[2].metric(
    "entropy of the mean",
    f"{predictive:.3f} nats",
    delta=f"{predictive - float(entropy(base)):+.3f} vs baseline",
    delta_color="off",
    help="Entropy of the average prediction over the draws (predictive entropy).",
)
m[3].metric(
    "mean entropy per draw",
    f"{expected:.3f} nats",
    help="Average uncertainty of single draws. The gap to the entropy of the mean "
    f"({predictive - expected:.3f} nats here) is the part due to disagreement "
    "between draws (mutual information).",
)

top5 = topk_with_delta(base, logits, 5, loaded.categories)
p_draws = probabilities(logits)
spread, converge = st.columns(2)
spread.plotly_chart(
    strip(
        {e.name or str(e.index): p_draws[:, e.index].tolist() for e in top5},
        reference={e.name or str(e.index): e.baseline_prob for e in top5},
        y_title="probability",
        title=f"Top-5 classes: probability in each of {draws} draws",
    ),
    config=CHART_CONFIG,
    key="spread",
)
counts = list(range(1, draws + 1))
converge.plotly_chart(
    lines(
        counts,
        {
            "flip rate": [flip_rate(base, logits[:n]) for n in counts],
            f"mean p({top5[0].name})": [
                float(probabilities(logits[:n]).mean(0)[top5[0].index]) for n in counts
            ],
        },
        x_title="draws so far",
        y_title="estimate",
        dashed=(),
        title="Estimates settle as draws accumulate",
    ),
    config=CHART_CONFIG,
    key="converge",
)
ent, kld = st.columns(2)
ent.plotly_chart(
    strip(
        {"entropy per draw": per_draw_entropy.tolist()},
        reference={"entropy per draw": float(entropy(base))},
        y_title="nats",
        title="Entropy of each draw (diamond: baseline)",
    ),
    config=CHART_CONFIG,
    key="entropy",
)
kld.plotly_chart(
    strip(
        {"KL(baseline ‖ draw)": kl.tolist()},
        y_title="nats",
        title="How far each draw's prediction moved",
    ),
    config=CHART_CONFIG,
    key="kl",
)


# A trail of this visit's runs: how the flip rate moves as keep_prob and N change.
history = st.session_state.setdefault("_mc_history", [])
point = {
    "keep_prob": reg.keep_prob,
    "draws": draws,
    "flip_rate": flip_rate(base, logits),
    "predictive_entropy": predictive,
    "setting": reg.summary(),
}
if not history or history[-1] != point:
    history.append(point)
del history[:-40]
trail_section(history)

per_draw = [
    {
        "draw": i,
        "top1": loaded.categories[int(row.argmax())],
        "top1_probability": float(probabilities(row).max()),
        "entropy": float(per_draw_entropy[i]),
        "kl_from_baseline": float(kl[i]),
    }
    for i, row in enumerate(logits)
]
st.subheader("Download")
download_row(
    [
        Download("Draws (CSV)", csv_bytes(per_draw), "droplab_mc_draws.csv", "text/csv"),
        # Built when clicked, so the trail is as it is then (clearing it reruns only the trail).
        Download(
            "Summary (JSON)",
            lambda: json_bytes(
                {
                    **settings_record(chosen, picture.name),
                    "draws": draws,
                    "elapsed_s": result.elapsed_s,
                    "flip_rate": point["flip_rate"],
                    "predictive_entropy": predictive,
                    "mean_entropy": expected,
                    "baseline_entropy": float(entropy(base)),
                    "runs_so_far": list(history),
                }
            ),
            "droplab_mc_summary.json",
            "application/json",
        ),
    ]
)
