"""The one model every session shares, and what the frame says about it."""

from __future__ import annotations

import atexit
import gc

import streamlit as st
import torch

import models
from dropcore.probe import ProbeSettings, probe
from models import LoadedModel

from .picker import picked_model

__all__ = ["device_label", "model_label", "require_model", "shared_model"]

_ARCH_LABELS = {"resnet50": "ResNet-50", "resnet18": "ResNet-18"}


@st.cache_resource(show_spinner="Loading the network (only the first visitor waits)...")
def shared_model() -> LoadedModel:
    """The process-wide model (env DROPLAB_MODEL / DROPLAB_WEIGHTS decide which).

    Cached as a resource: one instance for every session, never copied or mutated. One
    throw-away probe runs here, so that the first person's first pass does not also pay
    for the backend's one-off kernel set-up (seconds on a CPU).

    Raises:
        models.WeightsError: the operator asked for weights that cannot be used.
    """
    loaded = models.load(None, "auto")
    blank = torch.zeros(3, 224, 224, device=loaded.device)
    probe(loaded.model, blank, ProbeSettings(), samples=1, record=False)
    _freeze_startup_heap()
    return loaded


def _freeze_startup_heap() -> None:
    """Exempt what exists now (modules, the model) from every later garbage collection.

    With torch, plotly and pandas loaded a full collection walks ~430,000 long-lived
    objects (0.2-0.4 CPU-s). Streamlit's collection after every run is switched off in
    .streamlit/config.toml (what was imported after start-up still made it 35% of a
    cached rerun); Python's own generation-2 collections still happen, and frozen objects
    are skipped in them. Unfrozen at exit so that shutdown collects as usual.
    """
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)


def require_model() -> LoadedModel:
    """The network the page's picker chose (:func:`pages.ui.picker.picked_model`, drawn by
    ``choose_image``), else the shared model; or an error message and the end of the run."""
    try:
        return picked_model() or shared_model()
    except (models.WeightsError, ValueError) as err:
        st.error(f"The network could not be loaded, so this page cannot run: {err}")
        st.stop()


def device_label(loaded: LoadedModel) -> str:
    """``"GPU · NVIDIA H100"`` or ``"CPU · 2 threads"``: where the passes run."""
    if loaded.device.type == "cuda":
        return f"GPU · {torch.cuda.get_device_name(loaded.device)}"
    return f"CPU · {torch.get_num_threads()} threads"


def model_label(loaded: LoadedModel) -> str:
    """Architecture name as people write it, e.g. ``"ResNet-50"``."""
    return _ARCH_LABELS.get(loaded.name, loaded.name)
