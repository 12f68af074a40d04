"""Running a probe from a page: input tensor, shared results, progress bar, errors as messages."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

import streamlit as st
import torch

from dropcore.probe import Lookup, ProbeSettings, cached_probe, image_digest, site_names
from models import LoadedModel

from .inputs import Picture

__all__ = [
    "SHARED_MARK",
    "Sites",
    "input_digest",
    "model_input",
    "pass_text",
    "run_probe",
    "sites_of",
]

log = logging.getLogger(__name__)

# Said in a page's status line when its result came from the shared cache (or from an
# identical pass another session was running); the load test counts it as a cache hit.
SHARED_MARK = "shared result"
# How often a session waiting for another's identical Monte Carlo run touches its
# progress bar: that call is where Streamlit stops a run the person has superseded.
_WAIT_REFRESH_S = 1.0


@st.cache_resource(max_entries=64, show_spinner=False)
def _model_input(
    model_key: str, picture_key: str, _loaded: LoadedModel, _picture: Picture
) -> tuple[torch.Tensor, str]:
    # Keyed by the picture's identity (sample name or upload id), not its pixels: hashing
    # a picture each rerun would cost more than the transform it saves.
    with torch.inference_mode():  # shared by sessions: in-place writes must raise
        x = _loaded.transform(_picture.image)
    return x, image_digest(x)


def _input_of(loaded: LoadedModel, picture: Picture) -> tuple[torch.Tensor, str]:
    return _model_input(f"{loaded.name}:{loaded.weights_source}", picture.key, loaded, picture)


def model_input(loaded: LoadedModel, picture: Picture) -> torch.Tensor:
    """``picture`` preprocessed by the model's own transform: Tensor[3, H, W] (read-only)."""
    return _input_of(loaded, picture)[0]


def input_digest(loaded: LoadedModel, picture: Picture) -> str:
    """:func:`~dropcore.probe.image_digest` of :func:`model_input`, computed once."""
    return _input_of(loaded, picture)[1]


@dataclass(frozen=True)
class Sites:
    """The injection sites a setting selects, or why it selects none that can be used."""

    names: tuple[str, ...]
    problem: str | None = None


def sites_of(loaded: LoadedModel, settings: ProbeSettings) -> Sites:
    """Sites of ``settings`` on the shared model (none for ``"none"``).

    A setting can select nothing to regularize (DropConnect on identity shortcuts only):
    that is a :attr:`Sites.problem` for the page to show, not an exception.
    """
    if settings.method == "none":
        return Sites(())
    try:
        return Sites(site_names(loaded.model, settings))
    except ValueError as err:
        return Sites((), str(err))


def pass_text(elapsed_s: float, shared: bool, device: str) -> str:
    """``pass **0.41 s** on CPU``, with :data:`SHARED_MARK` when this session did not run it."""
    text = f"pass **{elapsed_s:.2f} s** on {device.upper()}"
    return f"{text} ({SHARED_MARK})" if shared else text


def run_probe(
    loaded: LoadedModel,
    x: torch.Tensor,
    settings: ProbeSettings,
    seed: int,
    *,
    samples: int = 1,
    record: bool | Collection[str] = True,
    label: str = "Drawing",
    image: str | None = None,
) -> Lookup | None:
    """One probe through the shared cache; a progress bar for Monte Carlo runs; None (after
    a message) on error.

    The progress bar is also what lets a newer interaction win: Streamlit raises its rerun
    exception inside the bar's update, which stops the probe between chunks of draws, or
    stops waiting for another session's identical run. ``image``: ``x``'s digest
    (:func:`input_digest`), so the picture is not hashed again.
    """
    bar = st.progress(0.0, text=f"{label}: 0 of {samples}") if samples > 1 else None
    waited = [time.monotonic()]

    def advance(done: int, total: int) -> None:
        if bar is not None:
            bar.progress(done / total, text=f"{label}: {done} of {total}")

    def waiting() -> None:
        if bar is not None and time.monotonic() - waited[0] >= _WAIT_REFRESH_S:
            waited[0] = time.monotonic()
            bar.progress(
                0.0,
                text=f"{label}: another session is running the same "
                f"{samples} draws; sharing its result",
            )

    try:
        return cached_probe(
            loaded.model,
            x,
            settings,
            seed=seed,
            samples=samples,
            record=record,
            progress=advance,
            poll=waiting,
            image=image,
        )
    except ValueError as err:
        st.error(f"These settings cannot be probed: {err}", icon=":material/error:")
    except (RuntimeError, MemoryError) as err:
        # Out of memory or a backend failure: this session gets a message, the server and
        # every other session carry on.
        log.exception("probe failed")
        st.error(
            f"The computation failed ({type(err).__name__}: {err}). Try fewer draws "
            "or reload the page.",
            icon=":material/error:",
        )
    finally:
        if bar is not None:
            bar.empty()
    return None
