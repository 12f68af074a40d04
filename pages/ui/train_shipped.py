"""The comparison the project ships: what the Train page shows before anyone trains.

The engine computed these results once (``dropcore.train.shipped``); a test checks they
are reproducible. They carry curves and figures but no weights, so Grad-CAM of them needs
a real run.
"""

from __future__ import annotations

import streamlit as st

from dropcore.train import RunResult, RunStatus

from .train_runs import Board

__all__ = ["shipped_by_key", "with_shipped"]


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


def with_shipped(live: Board) -> Board | None:
    """``live`` with every run that has no result here filled in from the shipped results,
    or None when some such run is not shipped (or none is missing)."""
    shipped = shipped_by_key()
    missing = [k for k, s in live.statuses.items() if s.result is None]
    if not missing or any(k not in shipped for k in missing):
        return None
    statuses = dict(live.statuses)
    for key in missing:
        statuses[key] = RunStatus(
            "cached", 1.0, 0.0, epochs=shipped[key].epochs, result=shipped[key]
        )
    return Board(statuses, shipped=frozenset(missing))
