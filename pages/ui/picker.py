"""The network picker: the pretrained ResNet, or any network the Train page has trained.

A trained network comes with Fashion-MNIST pictures (what it was trained on), so its
predictions mean something even where no ImageNet weights can be had. The choice is a
URL parameter (``net``) like every other control: a link opens the same trained network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import streamlit as st
import torch
from PIL import Image

import models
from dropcore.train import RunCache, RunConfig, default_root
from dropcore.train.splits import NORMALIZATION

from .controls import Choice, Panel

__all__ = [
    "PRETRAINED",
    "fashion_sample",
    "net_label",
    "pick_net",
    "picked_model",
    "trained_in_link",
]

PRETRAINED = "pretrained"
_TRAINED = "Trained: "
_FASHION = Choice(
    key="fimage",
    label="Fashion-MNIST picture",
    group="image",
    options=(),
    default="",
    help="Validation pictures the trained network never saw in training, one per class.",
)


def trained_in_link() -> bool:
    """Whether the page address names a trained network (the frame then leaves out the
    pretrained network's random-weights warning, which is not about this network)."""
    return st.query_params.get("net", "").startswith(_TRAINED)


def net_label(config: RunConfig) -> str:
    """How a trained network is named in the picker and in links (unique per run)."""
    return f"{_TRAINED}{config.label()} · {config.train_size}×{config.epochs} · {config.key()[:6]}"


@dataclass(frozen=True)
class _Listing:
    """The trained runs on disk and the picker offering them, built once per listing."""

    runs: Mapping[str, RunConfig]
    control: Choice


@st.cache_resource(ttl=5, max_entries=8, show_spinner=False)
def _listing(root: str) -> _Listing:
    # Re-listed every few seconds, so a run finished by another session shows up quickly.
    # One shared, read-only object per listing: every rerun used to copy the listing out
    # of a data cache and hash each run's config again to label it (a few ms per rerun
    # with 60 runs on disk).
    runs = {r.config.key(): r.config for r in RunCache(root).results()}
    return _Listing(MappingProxyType(runs), _net_control(runs))


def _net_control(runs: Mapping[str, RunConfig]) -> Choice:
    labels = {
        PRETRAINED: "Pretrained ResNet (ImageNet)",
        **{k: net_label(cfg) for k, cfg in runs.items()},
    }
    return Choice(
        key="net",
        label="Network",
        group="image",
        options=tuple(labels),
        default=PRETRAINED,
        labels=MappingProxyType(labels),
        help="The pretrained ImageNet ResNet, or a small ResNet trained on the Train page "
        "(Fashion-MNIST, 28 × 28 grayscale); the same controls, masks and Grad-CAM apply.",
    )


def pick_net(panel: Panel) -> RunConfig | None:
    """Draw the picker; the chosen trained run's config, or None for the pretrained net."""
    listing = _listing(str(default_root()))
    if len(listing.runs) == 0 and not st.query_params.get_all("net"):
        st.session_state["_picked_net"] = None
        return None  # nothing trained yet: no picker to distract from the picture
    key = panel(listing.control)
    st.session_state["_picked_net"] = key
    return listing.runs.get(key)


@dataclass(frozen=True)
class _FashionTransform:
    """The trained network's preprocessing, with the mean/std the pages' views undo."""

    fn: Callable[[Image.Image], torch.Tensor]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.fn(image)


def picked_model() -> models.LoadedModel | None:
    """The trained network this session picked (None: the pretrained one)."""
    key = st.session_state.get("_picked_net")
    runs = _listing(str(default_root())).runs
    if key is None or key not in runs:
        return None
    config = runs[key]
    loaded = models.load_trained(config, root=str(default_root()))
    mean, std = NORMALIZATION[config.dataset]
    return replace(
        loaded,
        name=f"small_resnet:{config.key()}",
        transform=_FashionTransform(loaded.transform, mean, std),
    )


@st.cache_resource(show_spinner=False)
def _samples() -> dict[str, Image.Image]:
    return {name: img for img, name in models.fashion_samples(10)}


def fashion_sample(panel: Panel) -> tuple[str, Image.Image]:
    """Draw the Fashion-MNIST picture choice; (class name, picture)."""
    samples = _samples()
    name = panel(_FASHION, options=tuple(samples))
    return name, samples[name]
