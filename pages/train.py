"""Train: small ResNets trained on Fashion-MNIST with each regularizer, side by side."""

from __future__ import annotations

import streamlit as st

from dropcore.train import RunResult
from dropcore.train.summary import summarize
from pages.ui.exports import Download, csv_bytes, download_row, json_bytes
from pages.ui.layout import page_panel
from pages.ui.train_controls import Plan, train_plan
from pages.ui.train_live import live_view, status_line
from pages.ui.train_results import HONESTY, curve_records, reading, show_table, table_records
from pages.ui.train_runs import Board, board, cancel, submit
from pages.ui.train_shipped import with_shipped
from pages.ui.train_views import curves_row, explain_section, open_links, weights_zip

panel = page_panel(
    "train",
    "Train",
    "Train small ResNets on Fashion-MNIST (28 × 28 clothing pictures, 10 classes) with "
    "each regularizer and watch what it does to learning: training accuracy keeps "
    "climbing while validation accuracy levels off, and the **gap** between them is what "
    "a regularizer narrows. Every variant runs once per seed, and the charts show the "
    "spread over seeds. Runs train in the background and are cached for everyone: a "
    "run somebody already trained is shown at once.",
)
plan = train_plan(panel)
panel.show_problems()
if plan is None:
    st.stop()
planned: Plan = plan  # the download's lambda below sees a declared type, not a narrowed one


def _results(plan: Plan, b: Board) -> dict[str, list[RunResult]]:
    return {v.label: b.results(v.configs) for v in plan.variants if b.results(v.configs)}


st.subheader(plan.title)
st.markdown(f"**{plan.question}** {plan.how_to_read}")

configs = plan.configs
live = board(configs)
shipped = with_shipped(live) if not live.active else None
shown = shipped if shipped is not None else live

actions = st.container(horizontal=True, vertical_alignment="center")
missing = sum(1 for s in live.statuses.values() if s.result is None)
actions.button(
    f"Train {missing} run{'s' if missing != 1 else ''}" if missing else "All runs are done",
    type="primary",
    icon=":material/play_arrow:",
    key="train_go",
    disabled=missing == 0 or live.active,
    on_click=submit,
    args=(configs,),
    help="Queues the runs that are not in the cache. They train in the background: you "
    "can leave the page and come back, and everyone asking for the same run shares it.",
)
if live.active:
    actions.button(
        "Cancel",
        icon=":material/stop:",
        key="train_cancel",
        on_click=cancel,
        args=(configs,),
        help="Stops this page's runs (a run somebody else also asked for keeps going for them).",
    )
actions.caption(
    f"{len(plan.variants)} variants × {len(plan.variants[0].configs)} seeds = {len(configs)} runs"
)

if live.active:
    live_view(plan)
    st.stop()

if shipped is not None:
    st.info(
        "**Before you train:** the runs marked *shipped* are results the project ships "
        "(computed by the same engine; the test suite checks they are reproducible). "
        "Press **Train** to train them here, which also makes those networks available "
        "for Grad-CAM and the other pages.",
        icon=":material/inventory_2:",
    )
status_line(plan, shown)
results = _results(plan, shown)
if not results:
    st.info(
        "None of these runs has been trained yet. Press **Train** to start them; the "
        "curves appear here while they train.",
        icon=":material/model_training:",
    )
    st.stop()

curves_row(plan, shown)

rows = summarize(results)
st.subheader("Results per variant")
show_table(rows)
for line in reading(rows):
    st.markdown(f"- {line}")
st.caption(HONESTY)

st.subheader("Download")
files = [
    Download("Table (CSV)", csv_bytes(table_records(rows)), "droplab_train_table.csv", "text/csv"),
    Download(
        "Curves (CSV)",
        csv_bytes(curve_records(plan, results)),
        "droplab_train_curves.csv",
        "text/csv",
    ),
    Download(
        "Everything (JSON)",
        json_bytes(
            {
                **plan.record(),
                "table": table_records(rows),
                "runs": [r.to_dict() for rs in results.values() for r in rs],
            }
        ),
        "droplab_train.json",
        "application/json",
    ),
]
if any(s.result is not None for s in live.statuses.values()):
    files.append(
        Download(
            "Trained weights (ZIP)",
            lambda: weights_zip(planned),
            "droplab_weights.zip",
            "application/zip",
        )
    )
download_row(files)
st.caption(
    "Charts: the camera icon above each chart saves it as a PNG. The weights load "
    "with `torch.load(path, weights_only=True)` into `dropcore.train.SmallResNet`."
)

# Only networks trained here have weights to look inside.
open_links(plan, live)
if any(s.result is not None for s in live.statuses.values()):
    explain_section(plan, live, panel)
