"""The comparison the project ships: what the Train page shows before anyone trains.

The engine computed these results once (``dropcore.train.shipped``); a test checks they
are reproducible. They carry curves and figures but no weights, so Grad-CAM of them needs
a real run.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dropcore.train import RunConfig, RunResult, RunStatus

from .train_runs import Board

__all__ = ["shipped_board", "shipped_by_key"]


@st.cache_resource(show_spinner=False)
def shipped_by_key() -> dict[str, RunResult]:
    """Every shipped result by its configuration's key (empty if none are shipped)."""
    try:
        from dropcore.train.shipped import shipped_results
    except ImportError:  # an installation without the shipped files
        return {}
    found = shipped_results()
    runs = [r for rs in found.values() for r in rs] if isinstance(found, dict) else found
    return {r.config.key(): r for r in runs}


def shipped_board(configs: Sequence[RunConfig]) -> Board | None:
    """A board of shipped results when the project ships every one of ``configs``."""
    shipped = shipped_by_key()
    if not configs or any(cfg.key() not in shipped for cfg in configs):
        return None
    return Board({cfg.key(): RunStatus("cached", 1.0, 0.0, epochs=shipped[cfg.key()].epochs,
                                       result=shipped[cfg.key()]) for cfg in configs},
                 shipped=True)
