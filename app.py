"""DropLab: the frame around the pages (``streamlit run app.py``).

Page config, navigation, the shared model, and the status line every page shows: where
the passes run (CPU/GPU) and, prominently, whether the weights are random.
"""

from __future__ import annotations

import streamlit as st

from models import WeightsError
from pages.ui.interpreter import tune_interpreter
from pages.ui.model import device_label, model_label, shared_model
from pages.ui.picker import trained_in_link

tune_interpreter()

st.set_page_config(
    page_title="DropLab: structured dropout, live",
    page_icon=":material/grid_on:",
    layout="wide",
)

# The default page is served at "/" whatever its url_path, so "/playground" would be
# "Page not found"; a hidden alias forwards it (settings in the URL included) to "/".
# Its url_path must differ from the alias's, which is why it is "home".
PLAYGROUND = st.Page(
    "pages/playground.py", title="Playground", icon=":material/tune:", url_path="home", default=True
)


def _to_playground() -> None:
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    st.switch_page(PLAYGROUND, query_params=params)


# URL paths equal the file names: see pages.ui.layout._leave_legacy_page_mode.
PAGES = [
    PLAYGROUND,
    st.Page(_to_playground, title="Playground", url_path="playground", visibility="hidden"),
    st.Page("pages/compare.py", title="Compare", icon=":material/grid_view:", url_path="compare"),
    st.Page(
        "pages/uncertainty.py",
        title="Uncertainty",
        icon=":material/casino:",
        url_path="uncertainty",
    ),
    st.Page("pages/theory.py", title="The math", icon=":material/functions:", url_path="theory"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
]
page = st.navigation(PAGES, position="top")

try:
    loaded = shared_model()
except (WeightsError, ValueError) as err:
    # The math page needs no network; the others say so themselves.
    st.error(f"The network could not be loaded: {err}", icon=":material/error:")
else:
    status = st.container(horizontal=True, vertical_alignment="center", gap="small")
    status.badge(
        device_label(loaded),
        icon=":material/memory:",
        color="gray",
        help="Where the forward and Grad-CAM passes run.",
    )
    if trained_in_link():
        status.badge(
            "Small ResNet trained here (Fashion-MNIST)",
            icon=":material/hub:",
            color="gray",
            help="Picked under Network in the sidebar.",
        )
    else:
        status.badge(
            model_label(loaded),
            icon=":material/hub:",
            color="gray",
            help=f"Weights: {loaded.weights_source}",
        )
    if loaded.is_random and not trained_in_link():
        st.warning(
            f"**Random weights: predictions are meaningless.** No pretrained weights are "
            f"available here, so {model_label(loaded)} runs with a random initialisation. "
            "Masks, drop fractions and the maths are exact; class names, probabilities "
            "and heatmaps show the mechanics only. "
            f"(Weights: {loaded.weights_source})",
            icon=":material/warning:",
        )

page.run()
