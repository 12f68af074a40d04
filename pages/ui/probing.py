"""Running a probe from a page: input tensor, progress bar, and errors as messages."""

from __future__ import annotations

import logging
from collections.abc import Collection

import streamlit as st
import torch
from PIL import Image

from dropcore.probe import ProbeResult, ProbeSettings, probe
from models import LoadedModel

__all__ = ["model_input", "run_probe"]

log = logging.getLogger(__name__)


def model_input(loaded: LoadedModel, image: Image.Image) -> torch.Tensor:
    """``image`` preprocessed by the model's own transform: Tensor[3, H, W]."""
    return loaded.transform(image)


def run_probe(
    loaded: LoadedModel,
    x: torch.Tensor,
    settings: ProbeSettings,
    seed: int,
    *,
    samples: int = 1,
    record: bool | Collection[str] = True,
    label: str = "Drawing",
) -> ProbeResult | None:
    """One probe call; a progress bar for Monte-Carlo runs; None (after a message) on error.

    The progress bar is also what lets a newer interaction win: Streamlit raises its rerun
    exception inside the bar's update, which stops the probe between chunks of draws.
    """
    bar = st.progress(0.0, text=f"{label}: 0 of {samples}") if samples > 1 else None

    def advance(done: int, total: int) -> None:
        if bar is not None:
            bar.progress(done / total, text=f"{label}: {done} of {total}")

    try:
        return probe(
            loaded.model, x, settings, seed=seed, samples=samples, record=record,
            progress=advance,
        )
    except ValueError as err:
        st.error(f"These settings cannot be probed: {err}", icon=":material/error:")
    except (RuntimeError, MemoryError) as err:
        # Out of memory or a backend failure: this session gets a message, the server and
        # every other session carry on.
        log.exception("probe failed")
        st.error(f"The computation failed ({type(err).__name__}: {err}). Try fewer draws "
                 "or reload the page.", icon=":material/error:")
    finally:
        if bar is not None:
            bar.empty()
    return None
