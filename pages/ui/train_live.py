"""Runs in flight: progress with time left, queue position, per-variant badges, live curves.

:func:`live_view` is a fragment that refreshes itself every :data:`REFRESH_S` seconds
while any run of the plan is queued or training; it only reads statuses, so the page
never waits on training. When the last run finishes it reruns the whole page, which then
shows the results.
"""

from __future__ import annotations

import streamlit as st

from .train_controls import Plan
from .train_runs import Board, asked_here, board
from .train_views import curves_row

__all__ = ["REFRESH_S", "duration", "live_view", "status_line"]

REFRESH_S = 1.5

# state -> (badge text, colour, icon)
_BADGES: dict[str, tuple[str, str, str]] = {
    "cached": ("from the cache", "green", ":material/inventory_2:"),
    "done": ("trained", "green", ":material/check_circle:"),
    "running": ("running", "blue", ":material/model_training:"),
    "elsewhere": ("running on another server", "blue", ":material/dns:"),
    "queued": ("queued", "orange", ":material/schedule:"),
    "failed": ("failed", "red", ":material/error:"),
    "cancelled": ("cancelled", "gray", ":material/cancel:"),
    "absent": ("not trained yet", "gray", ":material/radio_button_unchecked:"),
    "shipped": ("shipped with DropLab", "violet", ":material/inventory_2:"),
}


def duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


def status_line(plan: Plan, b: Board) -> None:
    """One row per variant: badges counting its runs in each state."""
    for variant in plan.variants:
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        row.markdown(f"**{variant.label}**", width="content")
        counts: dict[str, int] = {}
        for cfg in variant.configs:
            state: str = b.of(cfg).state
            if state == "done" and not asked_here(cfg):
                state = "cached"  # somebody else trained it: for this person, cached
            if cfg.key() in b.shipped:
                state = "shipped"
            counts[state] = counts.get(state, 0) + 1
        for state, count in counts.items():
            text, color, icon = _BADGES.get(state, (state, "gray", None))
            row.badge(f"{count} × {text}", color=color, icon=icon)  # type: ignore[arg-type]
    errors = {b.of(cfg).error for cfg in plan.configs if b.of(cfg).state == "failed"}
    for error in sorted(e for e in errors if e):
        st.error(f"A run failed: {error}", icon=":material/error:")


def _progress(b: Board) -> None:
    n = len(b.statuses)
    done = sum(1 for s in b.statuses.values() if s.result is not None)
    parts = [f"{done} of {n} runs done"]
    eta = b.eta_s()
    parts.append(f"about {duration(eta)} left" if eta is not None else "estimating time left")
    position = b.queue_position
    if position:
        parts.append(
            f"{position} run{'s' if position != 1 else ''} of other people ahead in the queue"
        )
    st.progress(min(max(b.fraction, 0.0), 1.0), text=" · ".join(parts))


@st.fragment(run_every=REFRESH_S)
def live_view(plan: Plan) -> None:
    """Progress, badges and curves of ``plan``'s runs, refreshed while any is active."""
    b = board(plan.configs)
    if not b.active:
        st.rerun()  # everything finished (or stopped): the whole page shows the results
    _progress(b)
    status_line(plan, b)
    curves_row(plan, b)
